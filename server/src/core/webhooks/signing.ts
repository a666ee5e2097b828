// Standard Webhooks signing (https://www.standardwebhooks.com), with the
// `standardwebhooks` package: the signature is a base64 HMAC-SHA256 of
// "<webhook-id>.<webhook-timestamp>.<body>", keyed by the endpoint's secret.
import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

const SECRET_PREFIX = 'whsec_';

/** A new signing secret: `whsec_` and 32 random bytes in base64. */
export function newSecret(): string {
  return SECRET_PREFIX + randomBytes(32).toString('base64');
}

/**
 * The `webhook-signature` header: one `v1,<signature>` per secret, space
 * separated. While a rotated-out secret is still in its grace period both
 * sign, so a receiver verifying with either accepts the message.
 */
export function signatureHeader(secrets: readonly string[], id: string, timestamp: Date, body: string): string {
  return secrets.map((s) => new Webhook(s).sign(id, timestamp, body)).join(' ');
}

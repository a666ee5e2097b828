// Who is calling a core command: the authenticated user as every door
// (tRPC, REST, the console) resolves it from a token or a session.
import type { Role } from '@relaydesk/db';

/** The authenticated caller: never carries a hash or a secret. */
export interface SessionUser {
  id: string;
  name: string;
  email: string;
  role: Role;
  contactId: string | null;
  tokenId: string;
}

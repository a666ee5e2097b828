// The built-in offline classifier: two multinomial logistic-regression models
// (category, priority) over TF-IDF word and bigram features, trained from the
// labelled tickets in ./dataset when first used (a fraction of a second).
//
// Written here rather than taken from a library: the whole model is ~100
// lines, trains deterministically (same data, same weights, same answers in
// every process), and gives calibrated class probabilities, which is what
// `confidence` reports. The tokenizer uses the `stemmer` package.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { stemmer } from 'stemmer';
import { z } from 'zod';
import { CATEGORIES, PRIORITIES, type Category, type Priority } from '@relaydesk/db';

export const DATASET_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'dataset');

const labelled = z.object({
  title: z.string().min(1),
  description: z.string().min(1),
  category: z.enum(CATEGORIES),
  priority: z.enum(PRIORITIES),
  resolution: z.string().min(1),
});
export type LabelledTicket = z.infer<typeof labelled>;

/** Every labelled ticket of the dataset (one JSON object per line, files in name order). */
export function loadDataset(dir = DATASET_DIR): LabelledTicket[] {
  const rows: LabelledTicket[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.jsonl')).sort()) {
    readFileSync(path.join(dir, file), 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (!line.trim()) return;
        const parsed = labelled.safeParse(JSON.parse(line));
        if (!parsed.success) throw new Error(`${file}:${i + 1}: ${parsed.error.issues[0]?.message}`);
        rows.push(parsed.data);
      });
  }
  return rows;
}

// Words that carry no signal about category or priority.
const STOPWORDS = new Set(
  ('a an and are as at be been but by can could did do does for from had has have hi hello he her his how i if in into is it its ' +
    'just me my of on or our please she so than thanks thank that the their them then there these they this to us was we were ' +
    'what when which who will with would you your yours regards best dear team').split(' '),
);

/** Lowercased, stemmed words; numbers and ids become shape tokens. */
export function tokenize(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.normalize('NFKC').toLowerCase().match(/[\p{L}\p{N}][\p{L}\p{N}'_-]*/gu) ?? []) {
    const word = raw.replace(/['_-]+$/, '');
    if (/\d/.test(word)) out.push(/^\d+$/.test(word) ? '<num>' : '<id>');
    else if (word.length > 1 && !STOPWORDS.has(word)) out.push(stemmer(word));
  }
  return out;
}

/** Unigrams and bigrams; title words count twice (subject lines say what a ticket is about). */
function features(title: string, description: string, bigrams = true): Map<string, number> {
  const counts = new Map<string, number>();
  const add = (tokens: string[], weight: number) => {
    for (let i = 0; i < tokens.length; i++) {
      counts.set(tokens[i]!, (counts.get(tokens[i]!) ?? 0) + weight);
      if (bigrams && i > 0) {
        const bigram = `${tokens[i - 1]} ${tokens[i]}`;
        counts.set(bigram, (counts.get(bigram) ?? 0) + weight);
      }
    }
  };
  add(tokenize(title), 2);
  add(tokenize(description), 1);
  return counts;
}

type Vector = { idx: Int32Array; val: Float64Array };

class Vectorizer {
  readonly vocab = new Map<string, number>();
  readonly idf: number[] = [];

  constructor(docs: Map<string, number>[], minDf: number) {
    const df = new Map<string, number>();
    for (const d of docs) for (const term of d.keys()) df.set(term, (df.get(term) ?? 0) + 1);
    for (const [term, n] of [...df].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (n < minDf) continue;
      this.vocab.set(term, this.idf.length);
      this.idf.push(Math.log((1 + docs.length) / (1 + n)) + 1);
    }
  }

  /** Sublinear TF × IDF, L2-normalised; unknown terms are dropped. */
  vector(doc: Map<string, number>): Vector {
    const idx: number[] = [];
    const val: number[] = [];
    for (const [term, count] of doc) {
      const i = this.vocab.get(term);
      if (i === undefined) continue;
      idx.push(i);
      val.push((1 + Math.log(count)) * this.idf[i]!);
    }
    const norm = Math.hypot(...val) || 1;
    return { idx: Int32Array.from(idx), val: Float64Array.from(val, (v) => v / norm) };
  }
}

/** Softmax regression trained by SGD with L2, in a fixed order (deterministic). */
class SoftmaxModel<L extends string> {
  readonly labels: readonly L[];
  readonly #w: Float64Array[];
  readonly #b: Float64Array;

  constructor(labels: readonly L[], dims: number, data: { x: Vector; y: L }[], opts: TrainOptions) {
    this.labels = labels;
    this.#w = labels.map(() => new Float64Array(dims));
    this.#b = new Float64Array(labels.length);
    const order = data.map((_, i) => i);
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let epoch = 0; epoch < opts.epochs; epoch++) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(random() * (i + 1));
        [order[i], order[j]] = [order[j]!, order[i]!];
      }
      const rate = opts.rate / (1 + epoch * 0.1);
      for (const n of order) {
        const { x, y } = data[n]!;
        const p = this.probabilities(x);
        for (let k = 0; k < labels.length; k++) {
          const g = p[k]! - (labels[k] === y ? 1 : 0);
          const w = this.#w[k]!;
          for (let j = 0; j < x.idx.length; j++) {
            const f = x.idx[j]!;
            w[f] = w[f]! - rate * (g * x.val[j]! + opts.l2 * w[f]!);
          }
          this.#b[k] = this.#b[k]! - rate * g;
        }
      }
    }
  }

  probabilities(x: Vector): number[] {
    const z = this.labels.map((_, k) => {
      let s = this.#b[k]!;
      const w = this.#w[k]!;
      for (let j = 0; j < x.idx.length; j++) s += w[x.idx[j]!]! * x.val[j]!;
      return s;
    });
    const max = Math.max(...z);
    const e = z.map((v) => Math.exp(v - max));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / sum);
  }

  predict(x: Vector): { label: L; probability: number } {
    const p = this.probabilities(x);
    let best = 0;
    for (let k = 1; k < p.length; k++) if (p[k]! > p[best]!) best = k;
    return { label: this.labels[best]!, probability: p[best]! };
  }
}

export interface TrainOptions {
  epochs: number;
  rate: number;
  l2: number;
  minDf: number;
  bigrams: boolean;
}

export const DEFAULT_TRAINING: TrainOptions = { epochs: 40, rate: 0.5, l2: 1e-4, minDf: 2, bigrams: true };

export interface BuiltinPrediction {
  category: Category;
  priority: Priority;
  /** The lesser of the two models' probabilities for their answers. */
  confidence: number;
  categoryConfidence: number;
  priorityConfidence: number;
}

export class BuiltinClassifier {
  readonly #vectorizer: Vectorizer;
  readonly #category: SoftmaxModel<Category>;
  readonly #priority: SoftmaxModel<Priority>;
  readonly trainedOn: number;

  readonly #opts: TrainOptions;

  constructor(tickets: LabelledTicket[], opts: Partial<TrainOptions> = {}) {
    this.#opts = { ...DEFAULT_TRAINING, ...opts };
    const docs = tickets.map((t) => features(t.title, t.description, this.#opts.bigrams));
    this.#vectorizer = new Vectorizer(docs, this.#opts.minDf);
    const xs = docs.map((d) => this.#vectorizer.vector(d));
    const dims = this.#vectorizer.idf.length;
    this.#category = new SoftmaxModel(CATEGORIES, dims, xs.map((x, i) => ({ x, y: tickets[i]!.category })), this.#opts);
    this.#priority = new SoftmaxModel(PRIORITIES, dims, xs.map((x, i) => ({ x, y: tickets[i]!.priority })), this.#opts);
    this.trainedOn = tickets.length;
  }

  get vocabularySize(): number {
    return this.#vectorizer.idf.length;
  }

  classify(input: { title?: string | undefined; description: string }): BuiltinPrediction {
    const x = this.#vectorizer.vector(features(input.title ?? '', input.description, this.#opts.bigrams));
    const c = this.#category.predict(x);
    const p = this.#priority.predict(x);
    const round = (v: number) => Math.round(v * 1000) / 1000;
    return {
      category: c.label,
      priority: p.label,
      confidence: round(Math.min(c.probability, p.probability)),
      categoryConfidence: round(c.probability),
      priorityConfidence: round(p.probability),
    };
  }
}

/** A ticket's fold, by a hash of its title: the same split on every run. */
function foldOf(t: LabelledTicket, folds: number): number {
  let h = 2166136261;
  for (let i = 0; i < t.title.length; i++) h = Math.imul(h ^ t.title.charCodeAt(i), 16777619);
  return (h >>> 0) % folds;
}

/** Held out for evaluation: a fixed fifth of the dataset. */
export const isHeldOut = (t: LabelledTicket): boolean => foldOf(t, 5) === 0;

export interface Evaluation {
  train: number;
  test: number;
  categoryAccuracy: number;
  priorityAccuracy: number;
  /** Both right. */
  jointAccuracy: number;
  /** What always answering the most common label would score. */
  categoryBaseline: number;
  priorityBaseline: number;
  trainMs: number;
}

/** How many of `tickets` the model gets right: category, priority, both. */
function score(model: BuiltinClassifier, tickets: LabelledTicket[]) {
  const hits = { category: 0, priority: 0, both: 0 };
  for (const t of tickets) {
    const p = model.classify(t);
    if (p.category === t.category) hits.category++;
    if (p.priority === t.priority) hits.priority++;
    if (p.category === t.category && p.priority === t.priority) hits.both++;
  }
  return hits;
}

/** Trains on four fifths of the dataset and scores the held-out fifth. */
export function evaluateBuiltin(tickets = loadDataset()): Evaluation {
  const train = tickets.filter((t) => !isHeldOut(t));
  const test = tickets.filter(isHeldOut);
  const started = performance.now();
  const model = new BuiltinClassifier(train);
  const trainMs = performance.now() - started;
  const hits = score(model, test);
  const majority = (key: 'category' | 'priority') => {
    const counts = new Map<string, number>();
    for (const t of train) counts.set(t[key], (counts.get(t[key]) ?? 0) + 1);
    const top = [...counts].sort((a, b) => b[1] - a[1])[0]![0];
    return test.filter((t) => t[key] === top).length / test.length;
  };
  return {
    train: train.length,
    test: test.length,
    categoryAccuracy: hits.category / test.length,
    priorityAccuracy: hits.priority / test.length,
    jointAccuracy: hits.both / test.length,
    categoryBaseline: majority('category'),
    priorityBaseline: majority('priority'),
    trainMs,
  };
}

/**
 * Accuracy over 5 folds (each ticket scored once, by a model that never saw
 * it): steadier than one held-out fifth on a dataset this size.
 */
export function crossValidate(tickets = loadDataset(), folds = 5): { categoryAccuracy: number; priorityAccuracy: number } {
  const hits = { category: 0, priority: 0 };
  for (let k = 0; k < folds; k++) {
    const model = new BuiltinClassifier(tickets.filter((t) => foldOf(t, folds) !== k));
    const fold = score(model, tickets.filter((t) => foldOf(t, folds) === k));
    hits.category += fold.category;
    hits.priority += fold.priority;
  }
  return { categoryAccuracy: hits.category / tickets.length, priorityAccuracy: hits.priority / tickets.length };
}

let shared: BuiltinClassifier | undefined;

/** The process's classifier, trained on the whole dataset at first use. */
export function builtinClassifier(): BuiltinClassifier {
  shared ??= new BuiltinClassifier(loadDataset());
  return shared;
}

/**
 * Gap filling (src/server/hub/redis/gap-filler.ts) against a model of one channel in Redis: any
 * interleaving of publications (each arriving through pub/sub or missed), history reads answered
 * late, reconnects and, in the last property, Redis losing the channel (a new epoch). No Redis.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { ChannelPosition, HistoryResult, Publication } from '../../../../src/server/pubsub/history.js';
import { GapFiller } from '../../../../src/server/hub/redis/gap-filler.js';

const CHANNEL = 'news';
/** A retry after a failed read would wait this long; reads never fail here. */
const RETRY_MS = 1_000;

type Step =
  | { readonly kind: 'publish'; readonly arrives: boolean; readonly size: number }
  | { readonly kind: 'answer' }
  | { readonly kind: 'reconnect' }
  | { readonly kind: 'restart' };

const publishStep = fc.record({ kind: fc.constant('publish' as const), arrives: fc.boolean(), size: fc.integer({ min: 1, max: 8 }) });
const otherStep = fc.constantFrom<Step>({ kind: 'answer' }, { kind: 'reconnect' });

/** The channel as Redis holds it, and the node's view through a GapFiller. */
class Model {
  epochNumber = 1;
  latest = 0;
  /** Every publication of the current epoch, kept or not. */
  published: Publication[] = [];
  /**
   * Reads asked for, each answered (in order) when a step says so: as Redis would have answered
   * at once, or (`lateReads`) as it answers when the answer comes, newer publications included.
   */
  readonly reads: Array<{ result: () => HistoryResult; resolve: (result: HistoryResult) => void }> = [];
  readonly delivered: Array<{ epoch: string; offset: number }> = [];
  readonly skips: Array<{ epoch: string; offset: number }> = [];
  readonly filler: GapFiller;

  constructor(
    private readonly historySize: number,
    maxHeldBytes: number,
    private readonly lateReads = false,
  ) {
    this.filler = new GapFiller(
      {
        read: (channel, since) => this.read(channel, since),
        deliver: (_channel, epoch, publication) => this.delivered.push({ epoch, offset: publication.offset }),
        skipTo: (_channel, epoch, offset) => this.skips.push({ epoch, offset }),
      },
      maxHeldBytes,
      RETRY_MS,
    );
    this.filler.open(CHANNEL);
  }

  get epoch(): string {
    return `e${this.epochNumber}`;
  }

  private read(_channel: string, since: ChannelPosition | undefined): Promise<HistoryResult> {
    const answer = (): HistoryResult => {
      const kept = this.published.slice(Math.max(0, this.published.length - this.historySize));
      const after = since === undefined ? [] : since.epoch === this.epoch ? kept.filter((p) => p.offset > since.offset) : kept;
      return { epoch: this.epoch, offset: this.latest, publications: after };
    };
    const now = answer();
    return new Promise((resolve) => this.reads.push({ result: this.lateReads ? answer : () => now, resolve }));
  }

  publish(arrives: boolean, size: number): void {
    const publication: Publication = { offset: ++this.latest, data: Buffer.alloc(size, this.latest & 0xff), isBinary: true };
    this.published.push(publication);
    if (arrives) this.filler.arrive(CHANNEL, this.epoch, publication);
  }

  restart(): void {
    this.epochNumber++;
    this.latest = 0;
    this.published = [];
  }

  async answerOne(): Promise<void> {
    const read = this.reads.shift();
    read?.resolve(read.result());
    await flush();
  }

  async run(steps: readonly Step[]): Promise<void> {
    // The node's position read executes before anything is published (its starting point is 0).
    if (this.lateReads) await this.answerOne();
    await flush();
    for (const step of steps) {
      if (step.kind === 'publish') this.publish(step.arrives, step.size);
      else if (step.kind === 'answer') await this.answerOne();
      else if (step.kind === 'reconnect') this.filler.resyncAll();
      else this.restart();
    }
    // The end of the outage: a reconnect, then every read answered (answering may ask for more).
    this.filler.resyncAll();
    for (let round = 0; round < 1000 && this.reads.length > 0; round++) await this.answerOne();
    expect(this.reads).toEqual([]);
  }
}

/** Lets the filler's promise callbacks run. */
async function flush(): Promise<void> {
  for (let i = 0; i < 3; i++) await Promise.resolve();
}

describe('gap filling: one channel, publications missed on pub/sub, reads answered late', () => {
  it('delivers every publication exactly once and in order when the history holds everything missed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof({ weight: 4, arbitrary: publishStep }, { weight: 1, arbitrary: otherStep }), { maxLength: 120 }), fc.integer({ min: 1, max: 64 }), async (steps, maxHeld) => {
        const model = new Model(1_000, maxHeld);
        await model.run(steps);
        expect(model.delivered).toEqual(Array.from({ length: model.latest }, (_, i) => ({ epoch: 'e1', offset: i + 1 })));
        const arrivedInOrder = model.filler.counts;
        expect(arrivedInOrder.lost).toBe(0);
        expect(model.filler.held).toBe(0);
        // Whatever did not come in order through pub/sub came from the history.
        expect(arrivedInOrder.recovered).toBeLessThanOrEqual(model.latest);
      }),
      { numRuns: 300 },
    );
  });

  it('delivers every publication exactly once and in order when reads execute late, after newer publications arrived', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.oneof({ weight: 4, arbitrary: publishStep }, { weight: 1, arbitrary: otherStep }), { maxLength: 120 }), fc.integer({ min: 1, max: 64 }), async (steps, maxHeld) => {
        const model = new Model(1_000, maxHeld, true);
        await model.run(steps);
        expect(model.delivered).toEqual(Array.from({ length: model.latest }, (_, i) => ({ epoch: 'e1', offset: i + 1 })));
        expect(model.filler.counts.lost).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('with a short history: delivers in order, never twice, and counts every offset it could not deliver as lost', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof({ weight: 4, arbitrary: publishStep }, { weight: 1, arbitrary: otherStep }), { maxLength: 120 }),
        fc.integer({ min: 0, max: 5 }),
        fc.integer({ min: 1, max: 64 }),
        async (steps, historySize, maxHeld) => {
          const model = new Model(historySize, maxHeld);
          await model.run(steps);
          const offsets = model.delivered.map((d) => d.offset);
          for (let i = 1; i < offsets.length; i++) expect(offsets[i]).toBeGreaterThan(offsets[i - 1]);
          expect(offsets.length + model.filler.counts.lost).toBe(model.latest);
          // The subscribers are told where the channel stands after each read: at the end, its latest offset.
          if (model.latest > 0 && model.skips.length > 0) expect(model.skips.at(-1)).toEqual({ epoch: 'e1', offset: model.latest });
          // Publications that arrived in order were never held back to be lost: the latest one
          // published is always delivered (it is in any history of size 1 or more).
          if (historySize > 0 && model.latest > 0) expect(offsets.at(-1)).toBe(model.latest);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('follows a new epoch when Redis loses the channel: never an offset twice or backwards within an epoch, never back to an old epoch', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.oneof({ weight: 8, arbitrary: publishStep }, { weight: 2, arbitrary: otherStep }, { weight: 1, arbitrary: fc.constant<Step>({ kind: 'restart' }) }), { maxLength: 120 }),
        async (steps) => {
          const model = new Model(1_000, 1_000);
          await model.run(steps);
          let epoch = 0;
          let offset = 0;
          for (const d of model.delivered) {
            const number = Number(d.epoch.slice(1));
            expect(number).toBeGreaterThanOrEqual(epoch);
            if (number > epoch) [epoch, offset] = [number, 0];
            expect(d.offset).toBeGreaterThan(offset);
            offset = d.offset;
          }
          // After the final catch-up the node has everything of the current epoch, which the history holds whole.
          const current = model.delivered.filter((d) => d.epoch === model.epoch).map((d) => d.offset);
          expect(current).toEqual(Array.from({ length: model.latest }, (_, i) => i + 1));
          const restarts = steps.filter((step) => step.kind === 'restart').length;
          expect(model.filler.counts.epochChanges).toBeLessThanOrEqual(restarts);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('holds newer arrivals while a read is out, and lets them go past the byte bound to read them back instead', async () => {
    const model = new Model(1_000, 10);
    await model.run([]); // position read answered: the channel stands at 0
    model.publish(true, 4); // 1, in order
    model.publish(false, 4); // 2, missed
    model.publish(true, 4); // 3: a gap, held, read asked for
    expect(model.filler.held).toBe(4);
    model.publish(true, 4); // 4: held too (8 bytes)
    model.publish(true, 4); // 5: past 10 bytes: the held ones go, to be read back
    expect(model.filler.held).toBe(0);
    expect(model.delivered.map((d) => d.offset)).toEqual([1]);
    for (let round = 0; round < 10 && model.reads.length > 0; round++) await model.answerOne();
    expect(model.delivered.map((d) => d.offset)).toEqual([1, 2, 3, 4, 5]);
    expect(model.filler.counts).toMatchObject({ recovered: 4, lost: 0 });
  });
});

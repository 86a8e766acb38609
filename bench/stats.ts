/**
 * Small statistics for the benchmark: a latency histogram cheap enough to record every
 * sample in the load generator's hot loop, and summaries (median, min, max) over rounds.
 */

/** Sub-buckets per power of two: each bucket is at most 1/64 (1.6 %) wide relative to its value. */
const SUB_BUCKET_BITS = 6;
const SUB_BUCKETS = 1 << SUB_BUCKET_BITS;
/** Powers of two covered, in microseconds: up to 2^31 us (about 36 minutes), far past any run. */
const OCTAVES = 32;

/**
 * A log-linear histogram of durations in microseconds. Recording is a few arithmetic
 * operations and one array increment; quantiles are read back with about 1.6 % precision.
 */
export class Histogram {
  private readonly counts = new Float64Array(OCTAVES * SUB_BUCKETS);
  count = 0;

  /** Records one duration, in milliseconds (as `performance.now()` differences are). */
  recordMs(milliseconds: number): void {
    this.counts[bucketOf(milliseconds * 1000)]++;
    this.count++;
  }

  /** The value (ms) below which `fraction` of the samples lie, or 0 without samples. */
  quantileMs(fraction: number): number {
    if (this.count === 0) return 0;
    const rank = Math.max(1, Math.ceil(fraction * this.count));
    let seen = 0;
    for (let bucket = 0; bucket < this.counts.length; bucket++) {
      seen += this.counts[bucket];
      if (seen >= rank) return bucketUpperMicros(bucket) / 1000;
    }
    return bucketUpperMicros(this.counts.length - 1) / 1000;
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
  }
}

/** Bucket index of a duration in microseconds: exact below 64 us, then 64 buckets per octave. */
function bucketOf(micros: number): number {
  const value = micros < 1 ? 0 : Math.floor(micros);
  if (value < SUB_BUCKETS) return value;
  const octave = 31 - Math.clz32(value) - SUB_BUCKET_BITS + 1; // >= 1
  const sub = value >>> (octave - 1); // in [64, 128)
  const index = octave * SUB_BUCKETS + (sub - SUB_BUCKETS);
  return Math.min(index, OCTAVES * SUB_BUCKETS - 1);
}

/** The largest duration (us) a bucket holds. */
function bucketUpperMicros(bucket: number): number {
  if (bucket < SUB_BUCKETS) return bucket + 1;
  const octave = Math.floor(bucket / SUB_BUCKETS);
  const sub = (bucket % SUB_BUCKETS) + SUB_BUCKETS;
  return (sub + 1) * 2 ** (octave - 1);
}

/** Median, minimum and maximum of some numbers. */
export interface Summary {
  median: number;
  min: number;
  max: number;
}

export function summarize(values: readonly number[]): Summary {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN };
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1] };
}

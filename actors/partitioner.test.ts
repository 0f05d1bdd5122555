import { describe, expect, test } from 'bun:test'
import fc from 'fast-check'
import { murmur2, Partitioner, partitionForKey, toPositive } from './partitioner.ts'

/*
 * Every expected value below comes from Kafka itself: a small Java program run against
 * kafka-clients-4.1.1.jar (Maven Central) printed `Utils.murmur2(bytes)`, `Utils.toPositive(...)` and
 * `BuiltInPartitioner.partitionForKey(bytes, n)` for n = 1, 3, 8, 12, 100, with string keys encoded as
 * UTF-8 (what StringSerializer sends). The values for "21", "foobar", "a-little-bit-long-string",
 * "a-little-bit-longer-string", "lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8" and "abc" are also
 * published in Kafka's own clients/src/test/java/org/apache/kafka/common/utils/UtilsTest.java
 * (testMurmur2), and the jar reproduced them.
 */
const PARTITION_COUNTS = [1, 3, 8, 12, 100] as const

// [key, murmur2, toPositive(murmur2), partitionForKey for each of PARTITION_COUNTS]
const STRING_VECTORS: readonly [string, number, number, readonly number[]][] = [
  ['', 275646681, 275646681, [0, 0, 1, 9, 81]],
  ['a', -1563381124, 584102524, [0, 1, 4, 4, 24]],
  ['ab', 316155434, 316155434, [0, 2, 2, 2, 34]],
  ['abc', 479470107, 479470107, [0, 0, 3, 3, 7]],
  ['abcd', -1323649548, 823834100, [0, 2, 4, 8, 0]],
  ['abcde', 461995741, 461995741, [0, 1, 5, 1, 41]],
  ['21', -973932308, 1173551340, [0, 0, 4, 0, 40]],
  ['foobar', -790332482, 1357151166, [0, 0, 6, 6, 66]],
  ['a-little-bit-long-string', -985981536, 1161502112, [0, 2, 0, 8, 12]],
  ['a-little-bit-longer-string', -1486304829, 661178819, [0, 2, 3, 11, 19]],
  ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971, 2088585677, [0, 2, 5, 5, 77]],
  ['order-42', 501153024, 501153024, [0, 0, 0, 0, 24]],
  ['user:1001', -1961883735, 185599913, [0, 2, 1, 5, 13]],
  ['ü', 1419834458, 1419834458, [0, 2, 2, 2, 58]],
  ['日本語キー', 1445825182, 1445825182, [0, 1, 6, 10, 82]],
  ['🎉party', -865225125, 1282258523, [0, 2, 3, 11, 23]],
  ['hello world', 1221641059, 1221641059, [0, 1, 3, 7, 59]],
  ['0', 971027396, 971027396, [0, 2, 4, 8, 96]],
  ['1', -1993445489, 154038159, [0, 0, 7, 3, 59]],
  ['128', -326012175, 1821471473, [0, 2, 1, 5, 73]],
  ['2187', -1508407203, 639076445, [0, 2, 5, 5, 45]],
]

// Raw bytes with the high bit set pin how the 1-3 byte tail is sign-handled (Java bytes are signed).
const BYTE_VECTORS: readonly [string, number, number, readonly number[]][] = [
  ['ff', -311467685, 1836015963, [0, 0, 3, 3, 63]],
  ['8081', 1642145146, 1642145146, [0, 1, 2, 10, 46]],
  ['fffefd', 998637092, 998637092, [0, 2, 4, 8, 92]],
  ['fffefdfc', 2136149935, 2136149935, [0, 1, 7, 7, 35]],
  ['0000000000', 263274959, 263274959, [0, 2, 7, 11, 59]],
  ['deadbeefcafebabe01', -1473444590, 674039058, [0, 0, 2, 6, 58]],
]

// Utils.murmur2 of byte arrays of length 0..40, byte i of length n being (n*31 + i*97 + 0x80) & 0xff:
// every tail length, with and without the high bit, from the same Java program.
const PATTERN_HASHES = [
  275646681, 1896891531, -281346727, 439233300, -1418504756, 1547076996, 361611868, -2032349599, 659653839,
  1197690320, 894306250, -1501148472, 513525660, -1445090784, 338139078, 1328454538, -133247954, -1525264257,
  897960316, -746456763, -1399122800, -1832565192, -30619048, 1852323047, 1205692946, -77646780, -2026099432,
  -175754935, -1551561665, -1781687469, -578484131, 2093247315, 1218873971, 1513545266, 671276328, -19727082,
  1385293846, 156087117, -588629746, -1017519632, 1449266628,
]

const patternBytes = (length: number): Uint8Array =>
  Uint8Array.from({ length }, (_, i) => (length * 31 + i * 97 + 0x80) & 0xff)

describe('murmur2 and partitionForKey match Kafka', () => {
  test.each(STRING_VECTORS)('key %p', (key, hash, positive, partitions) => {
    expect(murmur2(key)).toBe(hash)
    expect(murmur2(new TextEncoder().encode(key))).toBe(hash)
    expect(toPositive(hash)).toBe(positive)
    expect(PARTITION_COUNTS.map((n) => partitionForKey(key, n))).toEqual([...partitions])
  })

  test.each(BYTE_VECTORS)('bytes %s', (hex, hash, positive, partitions) => {
    const bytes = Buffer.from(hex, 'hex')
    expect(murmur2(bytes)).toBe(hash)
    expect(toPositive(hash)).toBe(positive)
    expect(PARTITION_COUNTS.map((n) => partitionForKey(bytes, n))).toEqual([...partitions])
  })

  test('every tail length', () => {
    expect(PATTERN_HASHES.map((_, n) => murmur2(patternBytes(n)))).toEqual(PATTERN_HASHES)
  })

  test('toPositive clears the sign bit, as Java does for Integer.MIN_VALUE', () => {
    expect(toPositive(-2147483648)).toBe(0)
    expect(toPositive(-1)).toBe(2147483647)
    expect(toPositive(5)).toBe(5)
  })

  test('a partition is always in range and depends only on the key bytes', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme' }), fc.integer({ min: 1, max: 10_000 }), (key, n) => {
        const partition = partitionForKey(key, n)
        expect(Number.isInteger(partition) && partition >= 0 && partition < n).toBe(true)
        expect(partitionForKey(Buffer.from(key, 'utf8'), n)).toBe(partition)
      }),
    )
  })
})

describe('Partitioner', () => {
  test('keyed records go where Kafka puts them; keyless ones take turns', () => {
    const partitioner = new Partitioner(8)
    expect(partitioner.partition('foobar')).toBe(6)
    expect([null, undefined, null, null].map((k) => partitioner.partition(k))).toEqual([0, 1, 2, 3])
    expect(partitioner.partition('foobar')).toBe(6)
    expect(partitioner.partition(null)).toBe(4)
  })

  test('the empty key is a key, as in Kafka (only null means keyless)', () => {
    const partitioner = new Partitioner(8, 5)
    expect(partitioner.partition('')).toBe(1)
    expect(partitioner.partition('')).toBe(1)
  })

  test('keyless records spread evenly over any run of n', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 64 }), fc.nat(), fc.nat({ max: 5 }), (n, start, rounds) => {
        const partitioner = new Partitioner(n, start)
        const picks = Array.from({ length: n * rounds }, () => partitioner.partition(null))
        for (let p = 0; p < n; p++) expect(picks.filter((q) => q === p).length).toBe(rounds)
      }),
    )
  })

  test('refuses a partition count that is not a positive integer', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => new Partitioner(bad)).toThrow(expect.objectContaining({ code: 'CONFIG_INVALID' }))
    }
  })
})

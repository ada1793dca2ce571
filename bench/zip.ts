import { crc32, inflateRawSync } from "node:zlib";

/** One file of a zip archive, as its central directory describes it. */
export interface ZipEntry {
  name: string;
  /** Bytes once extracted. */
  size: number;
  /** Bytes stored in the archive. */
  compressedSize: number;
  /** The extracted bytes (checked against the archive's CRC-32). */
  read(): Buffer;
}

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const CENTRAL_FILE_HEADER = 0x02014b50;
const LOCAL_FILE_HEADER = 0x04034b50;

/**
 * Lists the entries of a zip held in memory. The packages serverless writes are small, unsplit
 * and not zip64, so this reads only what they use (stored or deflated entries); no zip library is
 * a dependency of the project, and `unzip` is not on every machine.
 */
export function readZip(zip: Buffer): ZipEntry[] {
  // The end record is the last 22 bytes, unless an archive comment follows it.
  let end = zip.length - 22;
  while (end >= 0 && zip.readUInt32LE(end) !== END_OF_CENTRAL_DIRECTORY) end -= 1;
  if (end < 0) throw new Error("not a zip archive: no end of central directory");
  const count = zip.readUInt16LE(end + 10);
  let at = zip.readUInt32LE(end + 16);
  const entries: ZipEntry[] = [];
  for (let i = 0; i < count; i += 1) {
    if (zip.readUInt32LE(at) !== CENTRAL_FILE_HEADER) throw new Error(`bad central directory entry ${i}`);
    const method = zip.readUInt16LE(at + 10);
    const crc = zip.readUInt32LE(at + 16);
    const compressedSize = zip.readUInt32LE(at + 20);
    const size = zip.readUInt32LE(at + 24);
    const nameLength = zip.readUInt16LE(at + 28);
    const extraLength = zip.readUInt16LE(at + 30);
    const commentLength = zip.readUInt16LE(at + 32);
    const localHeader = zip.readUInt32LE(at + 42);
    const name = zip.toString("utf8", at + 46, at + 46 + nameLength);
    entries.push({
      name,
      size,
      compressedSize,
      read: () => extract(zip, localHeader, { name, method, crc, compressedSize }),
    });
    at += 46 + nameLength + extraLength + commentLength;
  }
  return entries;
}

function extract(
  zip: Buffer,
  offset: number,
  entry: { name: string; method: number; crc: number; compressedSize: number },
): Buffer {
  if (zip.readUInt32LE(offset) !== LOCAL_FILE_HEADER) throw new Error(`bad local header of ${entry.name}`);
  // The local header's name and extra field may differ in length from the central directory's.
  const start = offset + 30 + zip.readUInt16LE(offset + 26) + zip.readUInt16LE(offset + 28);
  const stored = zip.subarray(start, start + entry.compressedSize);
  if (entry.method !== 0 && entry.method !== 8) {
    throw new Error(`${entry.name}: compression method ${entry.method} is not supported`);
  }
  const data = entry.method === 8 ? inflateRawSync(stored) : Buffer.from(stored);
  if (crc32(data) !== entry.crc) throw new Error(`${entry.name}: CRC-32 mismatch`);
  return data;
}

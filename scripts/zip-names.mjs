// The entry names of a zip file (a .vsix), from its central directory; package.mjs checks each
// .vsix's file list with it. (test/support/zip.ts is the tests' TypeScript twin.)
import { readFileSync } from 'node:fs';

export function zipEntryNames(file) {
  const bytes = readFileSync(file);
  // End of central directory record: signature 0x06054b50, within the last 64 kB + 22 bytes.
  let end = -1;
  for (let i = bytes.length - 22; i >= Math.max(0, bytes.length - 65557); i--) {
    if (bytes.readUInt32LE(i) === 0x06054b50) {
      end = i;
      break;
    }
  }
  if (end < 0) throw new Error(`${file} is not a zip file`);
  let offset = bytes.readUInt32LE(end + 16);
  const names = [];
  for (let i = bytes.readUInt16LE(end + 10); i > 0; i--) {
    if (bytes.readUInt32LE(offset) !== 0x02014b50) throw new Error(`${file}: corrupt central directory`);
    const nameLength = bytes.readUInt16LE(offset + 28);
    names.push(bytes.subarray(offset + 46, offset + 46 + nameLength).toString('utf8'));
    offset += 46 + nameLength + bytes.readUInt16LE(offset + 30) + bytes.readUInt16LE(offset + 32);
  }
  return names;
}

import { randomBytes } from 'node:crypto';

/** A fresh CSP nonce from the OS's CSPRNG (Math.random would be guessable). */
export function makeNonce(): string {
  return randomBytes(18).toString('base64');
}

/**
 * Key files on disk: each written to a temp file in the same directory
 * (created exclusively, mode 0600, fsynced) and renamed over the old one, so a
 * proxy that reloads at any moment reads either the old key or the new one,
 * never half of one.
 */
import { randomBytes } from "node:crypto";
import { chmodSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

export const FILE_MODE = 0o600;

/** A name the service gives must be a plain file name: nothing it sends can write outside the directory. */
export function isSafeFileName(name: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name) && !name.includes("..");
}

export function readIfExists(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw e;
  }
}

export function ensureDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
}

export function writeAtomically(path: string, content: Uint8Array | string, mode = FILE_MODE): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  // "wx": fails rather than follow a symlink or reuse a file someone else made.
  const fd = openSync(tmp, "wx", mode);
  try {
    try {
      const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
      let done = 0;
      while (done < bytes.length) done += writeSync(fd, bytes, done, bytes.length - done);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    // The umask may have narrowed the mode further; make it exactly this.
    chmodSync(tmp, mode);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // already renamed or never made
    }
    throw e;
  }
}

/** Makes the renames durable (best effort: not every file system allows fsync on a directory). */
export function syncDir(dir: string): void {
  try {
    const fd = openSync(dir, "r");
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // e.g. EISDIR/EPERM on some platforms
  }
}

/** The file's permission bits, or undefined when it does not exist. */
export function modeOf(path: string): number | undefined {
  try {
    return statSync(path).mode & 0o777;
  } catch {
    return undefined;
  }
}

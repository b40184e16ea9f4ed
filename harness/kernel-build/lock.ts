/** One build per output directory at a time. */
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SetupError } from '../util/errors.js';

/** One build per output directory at a time: a lock file holding the builder's pid. */
export function lockOutDir(outDir: string): () => void {
  const lock = join(outDir, 'bpfh-build.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(lock, `${process.pid}\n`, { flag: 'wx' });
      const release = (): void => {
        try {
          if (readFileSync(lock, 'utf8').trim() === String(process.pid)) unlinkSync(lock);
        } catch {
          /* gone */
        }
      };
      process.once('exit', release);
      return () => {
        process.removeListener('exit', release);
        release();
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(lock, 'utf8').trim());
      let alive = false;
      try {
        if (pid > 0) process.kill(pid, 0);
        alive = pid > 0;
      } catch (err) {
        alive = (err as NodeJS.ErrnoException).code === 'EPERM';
      }
      if (alive) throw new SetupError(`another kernel build (pid ${pid}) is running in ${outDir}: wait for it to finish, or give another --out`);
      unlinkSync(lock); // left by a build that died
    }
  }
  throw new SetupError(`cannot take the build lock ${lock}: delete it if no build is running`);
}


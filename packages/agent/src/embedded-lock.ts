/**
 * PGlite opens a data directory without any locking: a second process that opens a directory in use
 * does not fail, it corrupts it. Before the CLI opens the embedded store it claims the directory:
 *
 * 1. `summit.lock` in the directory, created exclusively with this process's pid, excludes other
 *    CLI runs (a lock whose pid is gone is stale and taken over). Any process that opens the
 *    directory can take the same claim (`claimEmbeddedDir`), the agent included;
 * 2. `postmaster.pid` exists while any PGlite instance has the directory open (it is removed on a
 *    clean close): then the processes holding files in the directory are looked up in `/proc`
 *    (Linux). A holder found is reported by pid and command line; none found means a crashed
 *    instance left the file behind, and the directory is free. Where `/proc` cannot be read the
 *    directory is reported as busy, naming the file to remove if no process uses it.
 *
 * A busy directory is a `BACKEND_UNAVAILABLE` error (exit code 5) that says what to do: stop the
 * agent, or point the CLI at the real stores.
 */
import { mkdir, open, readdir, readFile, readlink, rm, stat } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { BackendUnavailableError } from '@summit-config/core/internal';

/** The claim file inside the data directory. */
export const CLI_LOCK_FILE = 'summit.lock';

/** The embedded data directory is open in another process. */
export class EmbeddedStoreBusyError extends BackendUnavailableError {
  readonly dataDir: string;
  readonly holder: { pid: number; command: string | undefined } | undefined;
  constructor(message: string, dataDir: string, holder: { pid: number; command: string | undefined } | undefined) {
    super(message, [{ backend: 'pglite', error: new Error(`data directory ${dataDir} is in use`) }], {
      backend: 'pglite',
    });
    this.name = 'EmbeddedStoreBusyError';
    this.dataDir = dataDir;
    this.holder = holder;
  }
  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), dataDir: this.dataDir, ...(this.holder ? { holder: this.holder } : {}) };
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function commandOf(pid: number): Promise<string | undefined> {
  let args: string[];
  try {
    args = (await readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\u0000').filter(Boolean);
  } catch {
    return undefined;
  }
  // `node [loader flags] .../cli.(ts|js) watch --json` reads better as `summit-config watch --json`.
  const entry = args.findIndex((a) => /(^|\/)(cli\.[cm]?[jt]s|summit-config)$/.test(a));
  const text = entry >= 0 ? ['summit-config', ...args.slice(entry + 1)].join(' ') : args.join(' ');
  return text.length > 160 ? `${text.slice(0, 159)}…` : text;
}

/**
 * The pids (other than this one) holding an open file under `dir`, from `/proc/<pid>/fd`; or
 * `undefined` when `/proc` cannot be read (not Linux).
 */
export async function processesUsing(dir: string): Promise<number[] | undefined> {
  let pids: string[];
  try {
    pids = (await readdir('/proc')).filter((p) => /^\d+$/.test(p));
  } catch {
    return undefined;
  }
  const prefix = dir.endsWith(sep) ? dir : `${dir}${sep}`;
  const found: number[] = [];
  for (const p of pids) {
    const pid = Number(p);
    if (pid === process.pid) continue;
    let fds: string[];
    try {
      fds = await readdir(`/proc/${p}/fd`);
    } catch {
      continue; // gone, or not ours to look at
    }
    for (const fd of fds) {
      try {
        const target = await readlink(`/proc/${p}/fd/${fd}`);
        if (target === dir || target.startsWith(prefix)) {
          found.push(pid);
          break;
        }
      } catch {
        // closed meanwhile
      }
    }
  }
  return found;
}

const ADVICE =
  'PGlite allows one process per data directory. Stop the agent (or the other command) first, or run the CLI against the real stores the agent uses (CONSUL_HTTP_ADDR / DATABASE_URL, or --config with the agent configuration)';

/** How a message names the process holding the directory. */
function holderName(command: string | undefined): string {
  if (command && /\bagent\b/.test(command)) return 'the summit-config agent';
  return command?.includes('summit-config') ? 'another summit-config process' : 'another process';
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Claims `dataDir` for this process (see the module comment). Resolves with the release function;
 * rejects with {@link EmbeddedStoreBusyError} when another process holds it.
 */
export async function claimEmbeddedDir(dataDir: string): Promise<() => Promise<void>> {
  const dir = resolve(dataDir);
  const lockPath = join(dir, CLI_LOCK_FILE);
  await mkdir(dir, { recursive: true });
  for (let attempt = 0; ; attempt++) {
    try {
      const handle = await open(lockPath, 'wx', 0o600);
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
          throw new EmbeddedStoreBusyError(`the embedded store ${dir} is locked by ${lockPath}`, dir, undefined);
        }
        throw error;
      }
      const pid = Number.parseInt((await readFile(lockPath, 'utf8').catch(() => '')).trim(), 10);
      if (Number.isSafeInteger(pid) && pid > 0 && pid !== process.pid && alive(pid)) {
        const command = await commandOf(pid);
        throw new EmbeddedStoreBusyError(
          `the embedded store ${dir} is open in ${holderName(command)} (pid ${pid}${command ? `: ${command}` : ''}). ${ADVICE}`,
          dir,
          { pid, command },
        );
      }
      await rm(lockPath, { force: true }); // stale: its process is gone
    }
  }
  const release = async () => {
    await rm(lockPath, { force: true });
  };
  try {
    if (await exists(join(dir, 'postmaster.pid'))) {
      const holders = await processesUsing(dir);
      if (holders === undefined) {
        throw new EmbeddedStoreBusyError(
          `the embedded store ${dir} is open in another process (${join(dir, 'postmaster.pid')} exists). ${ADVICE}. If no process uses it, a crashed one left that file behind: delete it`,
          dir,
          undefined,
        );
      }
      const pid = holders[0];
      if (pid !== undefined) {
        const command = await commandOf(pid);
        throw new EmbeddedStoreBusyError(
          `the embedded store ${dir} is open in ${holderName(command)} (pid ${pid}${command ? `: ${command}` : ''}). ${ADVICE}`,
          dir,
          { pid, command },
        );
      }
      // No process holds a file there: a crashed instance left postmaster.pid; PGlite opens over it.
    }
  } catch (error) {
    await release();
    throw error;
  }
  return release;
}

/**
 * The frame of a test file that talks to cloud fakes: no SDK may reach a metadata address or the
 * real cloud (the test command exports the same variables), a network guard records and refuses
 * every connection but loopback, and the fakes run from before the first test to after the last.
 */
import { afterAll, beforeAll } from 'vitest';
import type { RunningFake } from './http.js';
import { installNetworkGuard, type NetworkGuard } from './network-guard.js';

/**
 * Call at the top of the test file. `start` runs before all tests and returns what to close after
 * them (the fakes, agents...); the guard is uninstalled last.
 */
export function offlineClouds(start: () => Promise<Array<{ close(): unknown }>>): NetworkGuard {
  process.env.AWS_EC2_METADATA_DISABLED = 'true';
  process.env.METADATA_SERVER_DETECTION = 'none';
  const guard = installNetworkGuard();
  let running: Array<{ close(): unknown }> = [];
  beforeAll(async () => {
    running = await start();
  });
  afterAll(async () => {
    await Promise.all(running.map((r) => r.close()));
    guard.uninstall();
  });
  return guard;
}

/**
 * Makes the fake leave the next `op` request unanswered; returns a check that holds once that
 * request arrived (the contract suites' `stallNextRead`).
 */
export function stallNext(fake: RunningFake, op: string): () => boolean {
  const before = fake.requests.length;
  fake.fail({ op, status: 0, hang: true });
  return () => fake.requests.slice(before).some((r) => r.op === op && r.status === -2);
}

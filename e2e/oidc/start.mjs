// Starts the loopback identity provider (provider.mjs) for tests: resolves with its issuer once
// it prints it. Its stdin is a pipe, so it stops with the test process even if `stop` is missed.
import { spawn } from 'node:child_process';
import { join } from 'node:path';

/** The demo users provider.mjs knows, as its ID tokens name them. */
export const DEMO_USERS = {
  alice: { org: 'acme', name: 'Alice Example' },
  bob: { org: 'globex', name: 'Bob Example' },
};

/** Starts the provider; resolves with its issuer and a stop function. */
export async function startProvider(args) {
  const proc = spawn(process.execPath, [join(import.meta.dirname, 'provider.mjs'), ...args],
    { stdio: ['pipe', 'pipe', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (d) => { log += d; });
  const issuer = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`provider did not start in 10 s:\n${log}`)), 10000);
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) { clearTimeout(timer); ok(JSON.parse(out.split('\n')[0]).issuer); }
    });
    proc.on('exit', (code) => { clearTimeout(timer); fail(new Error(`provider exited with ${code}:\n${log}`)); });
  });
  const exited = new Promise((ok) => proc.on('exit', ok));
  return { issuer, proc, exited, log: () => log, async stop() { if (proc.exitCode === null) { proc.kill('SIGTERM'); await exited; } } };
}

// Drives the npm package `apns2` (a third-party Node APNs client) against the mock APNs
// server, for a side-by-side comparison with `mdmctl push`. Our own code; the package is not
// vendored: install it outside the repository (see README.md beside this file).
//
// node apns2_driver.mjs MODULE_DIR URL CA_PEM CERT_PEM KEY_PEM TOPIC TOKENS_FILE [IN_FLIGHT]
//
// TOKENS_FILE has one TOKEN_HEX:PUSHMAGIC a line (the same file `mdmctl push --file` reads).
// Prints one JSON summary line: pushes, outcomes, seconds, pushes/s and the CPU time the
// process spent while sending (process.cpuUsage, user + system).
import { createRequire } from 'node:module';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const [moduleDir, url, caPath, certPath, keyPath, topic, tokensPath, inFlightArg] =
  process.argv.slice(2);
if (!tokensPath) {
  console.error('usage: apns2_driver.mjs MODULE_DIR URL CA CERT KEY TOPIC TOKENS [IN_FLIGHT]');
  process.exit(2);
}
const inFlight = Number(inFlightArg ?? 1000);
const require = createRequire(join(moduleDir, 'node_modules', 'apns2', 'package.json'));
const { ApnsClient, Notification, PushType } = require('apns2');
const { Pool } = require('undici');

// An MDM push: the whole payload is {"mdm": PushMagic}. The package documents subclassing
// Notification for full control of the payload; its default adds an "aps" key.
class MdmNotification extends Notification {
  constructor(token, magic) {
    super(token, { type: PushType.mdm });
    this.magic = magic;
  }
  buildApnsOptions() {
    return { mdm: this.magic };
  }
}

// apns2 authenticates with a JWT (ES256, .p8 key); it signs one per 55 minutes. The mock
// does not check the JWT (it authenticates the TLS client certificate), so a throwaway key
// keeps the client's token path as it is in production.
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = privateKey.export({ type: 'pkcs8', format: 'pem' });
const client = new ApnsClient({
  team: 'TEAM123456',
  keyId: 'KEY1234567',
  signingKey,
  defaultTopic: topic,
  host: new URL(url).hostname,
});
// The package's pool always dials port 443 and takes no TLS options; the mock needs a
// client certificate and its own CA. Replace the pool with the same kind (undici, HTTP/2)
// pointed at the mock, limited to ONE connection, streams multiplexed up to the server's
// limit (the package's own pool allows one request per connection over 32 connections).
await client.client.close();
client.client = new Pool(url, {
  connections: 1,
  allowH2: true,
  maxConcurrentStreams: inFlight,
  connect: {
    ca: readFileSync(caPath),
    cert: readFileSync(certPath),
    key: readFileSync(keyPath),
    servername: 'localhost',
  },
});

const pairs = readFileSync(tokensPath, 'utf8')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'))
  .map((l) => {
    const i = l.indexOf(':');
    return [l.slice(0, i), l.slice(i + 1)];
  });

const counts = { delivered: 0, failed: 0 };
const reasons = {};
async function sendRange(list) {
  let next = 0;
  async function worker() {
    while (next < list.length) {
      const [token, magic] = list[next++];
      try {
        await client.send(new MdmNotification(token, magic));
        counts.delivered++;
      } catch (err) {
        counts.failed++;
        const r = err?.reason ?? String(err);
        reasons[r] = (reasons[r] ?? 0) + 1;
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(inFlight, list.length) }, worker));
}

// Warm-up: connect and send a few (not counted), as the Rust bench does.
await sendRange(pairs.slice(0, Math.min(100, pairs.length)));
counts.delivered = 0;
counts.failed = 0;
const cpu0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
await sendRange(pairs);
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const cpu = process.cpuUsage(cpu0);
const cpuUs = cpu.user + cpu.system;
console.log(
  JSON.stringify({
    summary: {
      client: 'npm apns2',
      total: pairs.length,
      ...counts,
      reasons,
      seconds: Math.round(secs * 1000) / 1000,
      pushes_per_second: Math.round(pairs.length / secs),
      send_cpu_us_per_push: Math.round((cpuUs / pairs.length) * 10) / 10,
    },
  }),
);
await client.close();

/**
 * The crypto calls that patches/ssh2-1.17.0.patch replaces, timed one against the other in
 * process: CPU microseconds per call, the median of `--rounds` rounds of `--calls` calls. The
 * table in patches/README.md comes from this script.
 *   tsx bench/crypto-calls.ts [--rounds 5] [--calls 2000]  → bench/results/crypto-calls.json
 */
import {
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  type JsonWebKeyInput,
  sign,
  verify,
} from 'node:crypto';
import { parseArgs } from 'node:util';
import { machine, stats, writeResult } from './lib.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    calls: { type: 'string', default: '2000' },
  },
});
const rounds = Number(values.rounds);
const calls = Number(values.calls);

/** CPU µs per call of `fn`: the median over the rounds. */
function time(fn: () => unknown): number {
  const per: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = process.cpuUsage();
    for (let i = 0; i < calls; i++) fn();
    const used = process.cpuUsage(start);
    per.push((used.user + used.system) / calls);
  }
  return stats(per).median;
}

interface Pair {
  call: string;
  before: { how: string; us: number };
  after: { how: string; us: number };
}
const pairs: Pair[] = [];
const pair = (call: string, before: [string, () => unknown], after: [string, () => unknown]) => {
  pairs.push({
    call,
    before: { how: before[0], us: time(before[1]) },
    after: { how: after[0], us: time(after[1]) },
  });
};

// the curve25519 exchange
const own = generateKeyPairSync('x25519');
pair(
  'own x25519 key pair, and its raw public key',
  [
    'generated, the public key exported as DER twice (ssh2)',
    () => {
      const k = generateKeyPairSync('x25519');
      k.publicKey.export({ type: 'spki', format: 'der' });
      return k.publicKey.export({ type: 'spki', format: 'der' });
    },
  ],
  [
    'generated as JWK, the private key imported from it',
    () => {
      const k = generateKeyPairSync('x25519', {
        publicKeyEncoding: { format: 'jwk' },
        privateKeyEncoding: { format: 'jwk' },
      });
      return createPrivateKey({
        key: k.privateKey as unknown as JsonWebKeyInput['key'],
        format: 'jwk',
      });
    },
  ],
);
const peer = generateKeyPairSync('x25519').publicKey;
const peerDer = peer.export({ type: 'spki', format: 'der' });
const peerJwk = peer.export({ format: 'jwk' });
pair(
  "the server's x25519 key, imported, and the shared secret",
  [
    'from DER',
    () =>
      diffieHellman({
        privateKey: own.privateKey,
        publicKey: createPublicKey({ key: peerDer, format: 'der', type: 'spki' }),
      }),
  ],
  [
    'from JWK',
    () =>
      diffieHellman({
        privateKey: own.privateKey,
        publicKey: createPublicKey({ key: peerJwk, format: 'jwk' }),
      }),
  ],
);

// the host key's signature over the exchange hash
const data = Buffer.alloc(32, 7);
const hostKeys: [string, string | null, ReturnType<typeof generateKeyPairSync>][] = [
  ['ssh-ed25519', null, generateKeyPairSync('ed25519')],
  ['ecdsa-sha2-nistp256', 'sha256', generateKeyPairSync('ec', { namedCurve: 'P-256' })],
  ['rsa-sha2-512 (3072 bits)', 'sha512', generateKeyPairSync('rsa', { modulusLength: 3072 })],
];
for (const [name, algo, { publicKey, privateKey }] of hostKeys) {
  const pem = publicKey.export({ type: 'spki', format: 'pem' });
  const jwk = publicKey.export({ format: 'jwk' });
  const signature = sign(algo, data, privateKey);
  pair(
    `host-key signature verified: ${name}`,
    ['against the PEM string', () => verify(algo, data, pem, signature)],
    [
      'against a key imported from JWK, import included',
      () => verify(algo, data, createPublicKey({ key: jwk, format: 'jwk' }), signature),
    ],
  );
}

for (const p of pairs) {
  console.log(
    `${p.call}: ${p.before.how} ${p.before.us.toFixed(1)} µs; ${p.after.how} ${p.after.us.toFixed(1)} µs`,
  );
}
writeResult('crypto-calls.json', {
  when: new Date().toISOString(),
  machine: machine(),
  openssl: process.versions.openssl,
  rounds,
  calls,
  pairs,
});

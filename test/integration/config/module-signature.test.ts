/**
 * Module signatures made by the real tools, at test time (no key is committed): a key and a
 * self-signed certificate from `openssl req`, a detached CMS signature from `openssl cms -sign`
 * with sign-file's flags (and the kernel's own scripts/sign-file where the kbuild package has
 * it), the trailer appended. config/module-signature.ts must read what the certificate says, and
 * what `modinfo` prints where it reads the file; `kpfleet validate` shows it.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readModuleSignature } from '../../../src/config/module-signature.ts';
import { runInProcess } from '../../cli-in-process.ts';

const MAGIC = Buffer.from('~Module signature appended~\n', 'latin1');
const CN = 'kpfleet test signing key';

const run = (cmd: string, args: string[], cwd?: string) =>
  spawnSync(cmd, args, { encoding: 'utf8', ...(cwd !== undefined ? { cwd } : {}) });
const has = (cmd: string, args: string[]): boolean => {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.error === undefined && r.status === 0;
};
const haveOpenssl = has('openssl', ['version']);

/** The kernel's sign-file, from Debian's linux-kbuild-* package, if installed. */
function signFile(): string | undefined {
  const base = '/usr/lib';
  try {
    for (const d of readdirSync(base))
      if (d.startsWith('linux-kbuild-') && existsSync(join(base, d, 'scripts/sign-file')))
        return join(base, d, 'scripts/sign-file');
  } catch {
    // no /usr/lib: no sign-file
  }
  return undefined;
}

/** `file` with `sig` appended as sign-file appends it: PKCS#7, then the struct, then the marker. */
function appendSignature(file: Buffer, sig: Buffer): Buffer {
  const header = Buffer.alloc(12);
  header[2] = 2; // id_type PKEY_ID_PKCS7
  header.writeUInt32BE(sig.length, 8);
  return Buffer.concat([file, sig, header, MAGIC]);
}

let dir = '';
let key = '';
let cert = '';
/** The certificate's serial as modinfo's sig_key prints it. */
let serial = '';

describe.skipIf(!haveOpenssl)('module signatures made with openssl', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kpfleet-sig-'));
    key = join(dir, 'key.pem');
    cert = join(dir, 'cert.pem');
    const req = run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${CN}/O=kpfleet`,
      '-keyout',
      key,
      '-out',
      cert,
    ]);
    expect(req.status, req.stderr).toBe(0);
    const out = run('openssl', ['x509', '-serial', '-noout', '-in', cert]);
    const hex = /^serial=([0-9A-F]+)$/m.exec(out.stdout)?.[1] ?? '';
    expect(hex).not.toBe('');
    // BN_bn2bin: no leading zero bytes
    serial = (hex.match(/../g) ?? []).join(':').replace(/^(00:)+/, '');
  });
  afterAll(() => {
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  /** `openssl cms -sign` as sign-file signs: detached, binary, no attributes, no certificates. */
  function cmsSign(payload: string, md = 'sha256'): Buffer {
    const out = `${payload}.p7s`;
    const r = run('openssl', [
      'cms',
      '-sign',
      '-binary',
      '-noattr',
      '-outform',
      'DER',
      '-nocerts',
      '-md',
      md,
      '-signer',
      cert,
      '-inkey',
      key,
      '-in',
      payload,
      '-out',
      out,
    ]);
    expect(r.status, r.stderr).toBe(0);
    return readFileSync(out);
  }

  function dummyModule(name: string, body = 'a dummy livepatch module\n'): string {
    const p = join(dir, name);
    writeFileSync(p, body);
    return p;
  }

  it('reads the signer (CN), the serial as sig_key and the digest from the certificate', () => {
    const payload = dummyModule('a.ko');
    const file = appendSignature(readFileSync(payload), cmsSign(payload));
    expect(readModuleSignature(file)).toEqual({
      signed: true,
      idType: 'PKCS#7',
      signer: CN,
      keyId: serial,
      hashAlgo: 'sha256',
    });
    const p512 = dummyModule('b.ko');
    expect(
      readModuleSignature(appendSignature(readFileSync(p512), cmsSign(p512, 'sha512'))),
    ).toMatchObject({ signer: CN, keyId: serial, hashAlgo: 'sha512' });
    expect(readModuleSignature(readFileSync(payload))).toEqual({ signed: false });
  });

  const signFilePath = signFile();
  it.skipIf(signFilePath === undefined)('reads what the kernel’s scripts/sign-file appends', () => {
    const payload = dummyModule('c.ko');
    const r = run(signFilePath ?? '', ['sha256', key, cert, payload]);
    expect(r.status, r.stderr).toBe(0);
    expect(readModuleSignature(readFileSync(payload))).toEqual({
      signed: true,
      idType: 'PKCS#7',
      signer: CN,
      keyId: serial,
      hashAlgo: 'sha256',
    });
  });

  it('says what modinfo says of the same file (an ELF object with a .modinfo section)', (ctx) => {
    if (!has('as', ['--version']) || !has('modinfo', ['--version'])) ctx.skip();
    const src = join(dir, 'm.s');
    writeFileSync(
      src,
      '.section .modinfo,"a"\n.asciz "license=GPL"\n.asciz "name=kpfleet_sig_test"\n',
    );
    const obj = join(dir, 'm.ko');
    const as = run('as', ['-o', obj, src]);
    expect(as.status, as.stderr).toBe(0);
    writeFileSync(obj, appendSignature(readFileSync(obj), cmsSign(obj)));
    const field = (f: string) => run('modinfo', ['-F', f, obj]);
    const signer = field('signer');
    // modinfo without OpenSSL support, or one that refuses this object: nothing to compare
    if (signer.status !== 0 || signer.stdout.trim() === '') ctx.skip();
    const ours = readModuleSignature(readFileSync(obj));
    expect(ours).toMatchObject({ signed: true, signer: signer.stdout.trim() });
    expect(ours).toMatchObject({ keyId: field('sig_key').stdout.trim().replace(/\s+/g, '') });
    expect(ours).toMatchObject({ hashAlgo: field('sig_hashalgo').stdout.trim() });
    expect(field('sig_id').stdout.trim()).toBe('PKCS#7');
  });

  it('kpfleet validate lists each patch with its signer or "unsigned"; --json gives them', async () => {
    const project = join(dir, 'project');
    mkdirSync(join(project, 'patches'), { recursive: true });
    const signedKo = join(project, 'patches/signed.ko');
    const payload = dummyModule('d.ko', 'the signed one\n');
    writeFileSync(signedKo, appendSignature(readFileSync(payload), cmsSign(payload)));
    writeFileSync(join(project, 'patches/plain.ko'), 'an unsigned one\n');
    const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
    writeFileSync(join(project, 'inventory.ini'), '[web]\nweb1\n');
    writeFileSync(
      join(project, 'kpfleet.yml'),
      [
        'inventory: inventory.ini',
        'patches:',
        '  lp-signed:',
        '    module: livepatch_signed',
        '    kernel: "5.*"',
        '    file: patches/signed.ko',
        `    sha256: ${sha(signedKo)}`,
        '  lp-plain:',
        '    module: livepatch_plain',
        '    kernel: "5.*"',
        '    file: patches/plain.ko',
        `    sha256: ${sha(join(project, 'patches/plain.ko'))}`,
        '  lp-rpm:',
        '    module: kpatch_5_14_0_362_8_1_1_3',
        '    kernel: 5.14.0-362.8.1.el9_3.x86_64',
        '    rpm: kpatch-patch-5_14_0-362_8_1-1-3',
        'groups:',
        '  web:',
        '    loaded: [lp-signed, lp-plain]',
        '    installed: [lp-rpm]',
        '',
      ].join('\n'),
    );
    const r = await runInProcess(['validate'], { cwd: project });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(
      `  lp-signed: patches/signed.ko signed by ${CN} (key ${serial}, sha256)\n`,
    );
    expect(r.stdout).toContain('  lp-plain: patches/plain.ko unsigned\n');
    expect(r.stdout).toContain(
      '  lp-rpm: kpatch-patch-5_14_0-362_8_1-1-3 (rpm): signature not read\n',
    );
    const json = await runInProcess(['validate', '--json'], { cwd: project });
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as { signatures: unknown }).signatures).toEqual({
      'lp-signed': {
        signed: true,
        idType: 'PKCS#7',
        signer: CN,
        keyId: serial,
        hashAlgo: 'sha256',
      },
      'lp-plain': { signed: false },
    });
  });
});

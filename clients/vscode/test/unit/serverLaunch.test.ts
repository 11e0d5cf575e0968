/** Unit tests for choosing and checking how to start `chorus serve`. */

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';

import {
  describeCandidate,
  expandPath,
  findOnPath,
  planLaunch,
  probeCandidate,
  resolveLaunch,
  type LaunchCandidate,
} from '../../src/serverLaunch';

let folder: string;

const SYSTEM_PYTHON = '/usr/bin/python3';

/** Debian's Python 3.11+, when it is there and has no chorus-lsp (so it must not find one in the cwd). */
function bareSystemPython(): boolean {
  const probe = spawnSync(SYSTEM_PYTHON, ['-c', "import sys, importlib.util as u; sys.exit(0 if sys.version_info >= (3, 11) and u.find_spec('server') is None else 1)"], {
    cwd: tmpdir(),
    env: { PATH: '/usr/bin:/bin', PYTHONNOUSERSITE: '1' },
  });
  return probe.status === 0;
}

async function script(name: string, body: string, mode = 0o755): Promise<string> {
  const file = path.join(folder, name);
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, mode);
  return file;
}

before(async () => {
  folder = await mkdtemp(path.join(tmpdir(), 'chorus-launch-'));
});

after(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('planLaunch', () => {
  it('uses chorus.serverCommand alone when it is set', () => {
    const plan = planLaunch({ serverCommand: [' /opt/chorus ', 'serve', '--tcp'], interpreter: '/usr/bin/python3' });
    assert.deepEqual(plan, [{ source: 'serverCommand', command: '/opt/chorus', args: ['serve', '--tcp'], probe: 'executable' }]);
  });

  it('runs the configured interpreter as `-m server serve`', () => {
    const plan = planLaunch({ serverCommand: [], interpreter: '/venv/bin/python', pythonExtensionInterpreter: '/other/python' });
    assert.deepEqual(plan, [{ source: 'interpreter', command: '/venv/bin/python', args: ['-P', '-m', 'server', 'serve'], probe: 'python' }]);
  });

  it("tries the Python extension's interpreter, then chorus on PATH", () => {
    const plan = planLaunch({ serverCommand: ['', ' '], interpreter: ' ', pythonExtensionInterpreter: '/env/bin/python' });
    assert.deepEqual(
      plan.map((candidate) => [candidate.source, candidate.command, candidate.args.join(' ')]),
      [
        ['pythonExtension', '/env/bin/python', '-P -m server serve'],
        ['path', 'chorus', 'serve'],
      ],
    );
  });

  it('falls back to chorus on PATH with nothing configured', () => {
    assert.deepEqual(planLaunch({ serverCommand: [], interpreter: '' }).map((candidate) => candidate.source), ['path']);
  });
});

describe('expandPath', () => {
  it('expands ~ and ${workspaceFolder}', () => {
    assert.equal(expandPath('~/venv/bin/python', '/ws', '/home/me'), '/home/me/venv/bin/python');
    assert.equal(expandPath('${workspaceFolder}/.venv/bin/python', '/ws', '/home/me'), '/ws/.venv/bin/python');
    assert.equal(expandPath('  python3 ', undefined, '/home/me'), 'python3');
  });
});

describe('findOnPath and probeCandidate', () => {
  it('finds executables on PATH and ignores non-executable files', async () => {
    const chorus = await script('chorus', 'exit 0');
    await script('plain', 'exit 0', 0o644);
    assert.equal(await findOnPath('chorus', `/nonexistent${path.delimiter}${folder}`), chorus);
    assert.equal(await findOnPath('plain', folder), undefined);
    assert.equal(await findOnPath(chorus, ''), chorus);
  });

  it('reports a missing interpreter, a non-executable one, and one without chorus-lsp', async () => {
    const env = { PATH: folder };
    const python = (command: string): LaunchCandidate => ({ source: 'interpreter', command, args: [], probe: 'python' });
    assert.deepEqual(await probeCandidate(python(path.join(folder, 'nope')), env), {
      ok: false,
      reason: 'missing',
      detail: `${path.join(folder, 'nope')} was not found`,
    });
    const plain = await script('python-plain', 'exit 0', 0o644);
    assert.equal((await probeCandidate(python(plain), env)).ok, false);
    const withoutPackage = await script('python-bare', 'exit 3');
    const outcome = await probeCandidate(python(withoutPackage), env);
    assert.equal(outcome.ok ? 'ok' : outcome.reason, 'package-missing');
    const broken = await script('python-broken', 'echo "Fatal Python error: boom" >&2; exit 1');
    const brokenOutcome = await probeCandidate(python(broken), env);
    assert.deepEqual(brokenOutcome, { ok: false, reason: 'broken', detail: 'Fatal Python error: boom' });
    const old = await script('python-old', 'exit 4');
    const oldOutcome = await probeCandidate(python(old), env);
    assert.equal(oldOutcome.ok ? 'ok' : oldOutcome.reason, 'too-old');
    const good = await script('python-good', 'exit 0');
    assert.deepEqual(await probeCandidate(python(good), env), { ok: true });
  });

  it('accepts a real interpreter with chorus-lsp installed (CHORUS_PYTHON)', { skip: !process.env.CHORUS_PYTHON }, async () => {
    const interpreter = process.env.CHORUS_PYTHON ?? 'python3';
    const candidate: LaunchCandidate = { source: 'interpreter', command: interpreter, args: [], probe: 'python' };
    assert.deepEqual(await probeCandidate(candidate, process.env), { ok: true });
  });
});

describe('resolveLaunch', () => {
  it("skips the Python extension's interpreter when chorus-lsp is missing there and uses PATH", async () => {
    const bare = await script('python-ext', 'exit 3');
    await script('chorus', 'exit 0');
    const plan = planLaunch({ serverCommand: [], interpreter: '', pythonExtensionInterpreter: bare });
    const resolution = await resolveLaunch(plan, (candidate) => probeCandidate(candidate, { PATH: folder }));
    assert.ok(resolution.ok);
    assert.equal(resolution.candidate.source, 'path');
  });

  it('explains how to install chorus-lsp into the selected interpreter when nothing works', async () => {
    const bare = await script('python-ext2', 'exit 3');
    const plan = planLaunch({ serverCommand: [], interpreter: '', pythonExtensionInterpreter: bare });
    const resolution = await resolveLaunch(plan, (candidate) => probeCandidate(candidate, { PATH: '/nonexistent' }));
    assert.ok(!resolution.ok);
    assert.equal(resolution.problem.setting, 'chorus.interpreter');
    assert.match(resolution.problem.message, /chorus-lsp is not installed in the selected Python interpreter/);
    assert.ok(resolution.problem.message.includes(`${bare} -m pip install chorus-lsp`));
  });

  it('says chorus is not on PATH when there is no interpreter at all', async () => {
    const resolution = await resolveLaunch(planLaunch({ serverCommand: [], interpreter: '' }), (candidate) =>
      probeCandidate(candidate, { PATH: '/nonexistent' }),
    );
    assert.ok(!resolution.ok);
    assert.match(resolution.problem.message, /"chorus" command was not found on PATH/);
    assert.match(resolution.problem.message, /pip install chorus-lsp/);
  });

  it('points at the setting that is wrong', async () => {
    const missing = path.join(folder, 'missing-python');
    const byInterpreter = await resolveLaunch(planLaunch({ serverCommand: [], interpreter: missing }), (candidate) =>
      probeCandidate(candidate, { PATH: '' }),
    );
    assert.ok(!byInterpreter.ok);
    assert.equal(byInterpreter.problem.setting, 'chorus.interpreter');
    assert.match(byInterpreter.problem.message, /the "chorus.interpreter" setting \(.*missing-python\) does not exist/);
    const byCommand = await resolveLaunch(planLaunch({ serverCommand: ['no-such-chorus', 'serve'], interpreter: '' }), (candidate) =>
      probeCandidate(candidate, { PATH: folder }),
    );
    assert.ok(!byCommand.ok);
    assert.equal(byCommand.problem.setting, 'chorus.serverCommand');
    assert.match(byCommand.problem.message, /no-such-chorus\) was not found/);
  });

  it('does not take a server/ folder in the working directory for chorus-lsp', { skip: !bareSystemPython() }, async () => {
    const workspace = path.join(folder, 'shadow');
    await mkdir(path.join(workspace, 'server'), { recursive: true });
    await mkdir(path.join(workspace, 'orchestration'), { recursive: true });
    await writeFile(path.join(workspace, 'server', '__init__.py'), '');
    await writeFile(path.join(workspace, 'orchestration', '__init__.py'), '');
    const candidate: LaunchCandidate = { source: 'interpreter', command: SYSTEM_PYTHON, args: [], probe: 'python' };
    const outcome = await probeCandidate(candidate, { PATH: '/usr/bin:/bin', PYTHONNOUSERSITE: '1' }, 15000, workspace);
    assert.equal(outcome.ok ? 'ok' : outcome.reason, 'package-missing');
  });

  it('describes candidates for the log', () => {
    const text = describeCandidate({ source: 'interpreter', command: '/my env/python', args: ['-m', 'server', 'serve'], probe: 'python' });
    assert.equal(text, '"/my env/python" -m server serve (from interpreter)');
  });
});

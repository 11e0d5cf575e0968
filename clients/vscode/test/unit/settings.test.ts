/** Unit tests for the `chorus` settings section sent to the server. */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import {
  answerConfigurationItem,
  buildChorusSection,
  classifyConfigurationChange,
  initializationOptions,
  pruneEmpty,
  RESTRICTED_SETTING_KEYS,
} from '../../src/settings';

describe('buildChorusSection', () => {
  it('keeps models, panels and policy and nothing else', () => {
    const raw: Record<string, unknown> = {
      models: { alpha: { model: 'openai/alpha', api_base: 'http://127.0.0.1:9/v1', timeout: 5 } },
      panels: { review: ['alpha'] },
      policy: { deadline: 30, exclude: [] },
      serverCommand: ['chorus', 'serve'],
      interpreter: '/usr/bin/python3',
    };
    const section = buildChorusSection((key) => raw[key]);
    assert.deepEqual(section, {
      models: { alpha: { model: 'openai/alpha', api_base: 'http://127.0.0.1:9/v1', timeout: 5 } },
      panels: { review: ['alpha'] },
      policy: { deadline: 30, exclude: [] },
    });
  });

  it('leaves out empty tables and nulls so chorus.toml stays in force', () => {
    const raw: Record<string, unknown> = { models: {}, panels: { arbiter: null }, policy: { quorum: undefined } };
    assert.deepEqual(buildChorusSection((key) => raw[key]), {});
  });

  it('ignores values that are not tables', () => {
    const raw: Record<string, unknown> = { models: 'claude', panels: ['a'], policy: 3 };
    assert.deepEqual(buildChorusSection((key) => raw[key]), {});
  });

  it('prunes recursively but keeps empty lists and zero', () => {
    assert.deepEqual(pruneEmpty({ a: { b: {}, c: null, d: 0, e: [] }, f: {} }), { a: { d: 0, e: [] } });
  });
});

describe('answerConfigurationItem', () => {
  const section = { policy: { deadline: 12 }, panels: { review: ['a', 'b'] } };

  it('answers the whole section, a table, or a key', () => {
    assert.deepEqual(answerConfigurationItem(section, 'chorus'), section);
    assert.deepEqual(answerConfigurationItem(section, undefined), section);
    assert.deepEqual(answerConfigurationItem(section, 'chorus.policy'), { deadline: 12 });
    assert.equal(answerConfigurationItem(section, 'chorus.policy.deadline'), 12);
    assert.equal(answerConfigurationItem(section, 'chorus.models'), null);
  });

  it('leaves other sections to the default handler', () => {
    assert.equal(answerConfigurationItem(section, 'editor'), undefined);
    assert.equal(answerConfigurationItem(section, 'chorusx'), undefined);
  });
});

describe('classifyConfigurationChange', () => {
  const affects = (changed: string[]) => (section: string) => changed.some((key) => key === section || key.startsWith(`${section}.`));

  it('restarts for the server command and the interpreter', () => {
    assert.equal(classifyConfigurationChange(affects(['chorus.interpreter'])), 'restart');
    assert.equal(classifyConfigurationChange(affects(['chorus.serverCommand', 'chorus.policy'])), 'restart');
  });

  it('resends models, panels and policy without a restart', () => {
    assert.equal(classifyConfigurationChange(affects(['chorus.policy.deadline'])), 'resend');
    assert.equal(classifyConfigurationChange(affects(['chorus.models'])), 'resend');
  });

  it('ignores everything else', () => {
    assert.equal(classifyConfigurationChange(affects(['chorus.trace.server', 'editor.fontSize'])), 'none');
  });
});

describe('workspace trust', () => {
  it("sends VS Code's workspace trust to the server with the settings", () => {
    const section = { panels: { review: ['a'] } };
    assert.deepEqual(initializationOptions(section, false), { panels: { review: ['a'] }, workspaceTrusted: false });
    assert.deepEqual(initializationOptions({}, true), { workspaceTrusted: true });
    assert.deepEqual(section, { panels: { review: ['a'] } }, 'the section itself is not changed');
  });

  it('restricts every setting that picks a program, a host, a key variable or a command', () => {
    const manifest = JSON.parse(readFileSync(path.resolve(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
      capabilities: { untrustedWorkspaces: { supported: string; restrictedConfigurations: string[] } };
    };
    const untrusted = manifest.capabilities.untrustedWorkspaces;
    assert.equal(untrusted.supported, 'limited');
    assert.deepEqual([...untrusted.restrictedConfigurations].sort(), [...RESTRICTED_SETTING_KEYS].sort());
    assert.ok(RESTRICTED_SETTING_KEYS.includes('chorus.models') && RESTRICTED_SETTING_KEYS.includes('chorus.policy'));
  });

  it('the client sends the trust flag and restarts when trust is granted', () => {
    const source = readFileSync(path.resolve(__dirname, '..', '..', '..', 'src', 'chorusClient.ts'), 'utf8');
    assert.match(source, /initializationOptions\(readChorusSection\(\), vscode\.workspace\.isTrusted\)/);
    assert.match(source, /onDidGrantWorkspaceTrust\(/);
  });
});

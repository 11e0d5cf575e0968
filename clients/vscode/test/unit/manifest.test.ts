/** Unit tests for package.json: commands, menus and settings line up with the code. */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { describe, it } from 'node:test';

import { FeedbackCommands, ServerCommands } from '../../src/protocol';
import { SERVER_SETTING_KEYS } from '../../src/settings';
import { PALETTE_FOR_SERVER_COMMAND } from '../../src/textEdits';

const root = path.resolve(__dirname, '..', '..', '..');
const manifest = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  engines: { vscode: string };
  main: string;
  contributes: {
    commands: { command: string; title: string; category: string }[];
    menus: Record<string, { command: string }[]>;
    configuration: { properties: Record<string, unknown> };
  };
};
const extensionSource = readFileSync(path.join(root, 'src', 'extension.ts'), 'utf8');
const registered = new Set([...extensionSource.matchAll(/registerCommand\('([^']+)'/g)].map((match) => match[1]));
registered.add('chorus.internal.statusBarClicked');

describe('package.json', () => {
  it('targets VS Code 1.91 so Cursor can install it', () => {
    assert.equal(manifest.engines.vscode, '^1.91.0');
    assert.equal(manifest.main, './dist/extension.js');
  });

  it('contributes the palette commands under the Chorus category', () => {
    const titles = manifest.contributes.commands.filter((command) => command.command.startsWith('chorus.palette.')).map((command) => `${command.category}: ${command.title}`);
    for (const title of ['Chorus: Review Selection', 'Chorus: Implement Stub', 'Chorus: Explain Diagnostics', 'Chorus: Show Models', 'Chorus: Show Model Stats', 'Chorus: Restart Server', 'Chorus: Show Output']) {
      assert.ok(titles.includes(title), title);
    }
  });

  it('registers a handler for every contributed command', () => {
    for (const command of manifest.contributes.commands) {
      assert.ok(registered.has(command.command), command.command);
    }
  });

  it("never reuses the server's command ids (vscode-languageclient registers those)", () => {
    const contributed = new Set(manifest.contributes.commands.map((command) => command.command));
    for (const serverCommand of Object.values(ServerCommands)) {
      assert.ok(!contributed.has(serverCommand), serverCommand);
      assert.ok(contributed.has(PALETTE_FOR_SERVER_COMMAND[serverCommand]));
    }
  });

  it('leaves the feedback commands to the server (the quick fixes run them as they are)', () => {
    const contributed = new Set(manifest.contributes.commands.map((command) => command.command));
    for (const serverCommand of Object.values(FeedbackCommands)) {
      assert.ok(!contributed.has(serverCommand), serverCommand);
      assert.equal(PALETTE_FOR_SERVER_COMMAND[serverCommand], undefined, serverCommand);
    }
  });

  it('puts review, implement and explain in the editor context menu', () => {
    const context = manifest.contributes.menus['editor/context'].map((item) => item.command);
    assert.deepEqual(context, ['chorus.palette.reviewSelection', 'chorus.palette.implementStub', 'chorus.palette.explainDiagnostics']);
  });

  it('declares a setting for the server command, the interpreter and each server table', () => {
    const keys = Object.keys(manifest.contributes.configuration.properties);
    for (const key of ['chorus.serverCommand', 'chorus.interpreter', 'chorus.trace.server', ...SERVER_SETTING_KEYS.map((key) => `chorus.${key}`)]) {
      assert.ok(keys.includes(key), key);
    }
  });
});

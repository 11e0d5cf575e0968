/** Unit tests for applying edits in memory (the diff preview) and rewriting server commands. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { applyTextEdits, editsByUri, offsetAt, rewriteCommand } from '../../src/textEdits';

const range = (startLine: number, startCharacter: number, endLine: number, endCharacter: number) => ({
  start: { line: startLine, character: startCharacter },
  end: { line: endLine, character: endCharacter },
});

describe('offsetAt', () => {
  const text = 'ab\ncde\r\nf';

  it('maps positions to offsets, clamping to the line and the text', () => {
    assert.equal(offsetAt(text, { line: 0, character: 1 }), 1);
    assert.equal(offsetAt(text, { line: 1, character: 0 }), 3);
    assert.equal(offsetAt(text, { line: 1, character: 99 }), 6);
    assert.equal(offsetAt(text, { line: 2, character: 1 }), 9);
    assert.equal(offsetAt(text, { line: 7, character: 0 }), text.length);
  });
});

describe('applyTextEdits', () => {
  const stub = 'def add_one(x):\n    ...\n\n\nprint(add_one(1))\n';

  it('replaces a stub body like the implement candidates do', () => {
    const edited = applyTextEdits(stub, [{ range: range(0, 0, 2, 0), newText: 'def add_one(x):\n    return x + 1\n' }]);
    assert.equal(edited, 'def add_one(x):\n    return x + 1\n\n\nprint(add_one(1))\n');
  });

  it('applies several edits in any order, with inserts', () => {
    const edited = applyTextEdits('one two three', [
      { range: range(0, 8, 0, 13), newText: '3' },
      { range: range(0, 0, 0, 3), newText: '1' },
      { range: range(0, 4, 0, 4), newText: '(2) ' },
    ]);
    assert.equal(edited, '1 (2) two 3');
  });

  it('refuses overlapping edits', () => {
    assert.throws(() => applyTextEdits('abcdef', [{ range: range(0, 0, 0, 4), newText: '' }, { range: range(0, 2, 0, 5), newText: '' }]), /overlapping/);
  });
});

describe('editsByUri', () => {
  it('reads `changes`', () => {
    const edits = editsByUri({ changes: { 'file:///a.py': [{ range: range(0, 0, 0, 0), newText: 'x' }] } });
    assert.deepEqual([...edits.keys()], ['file:///a.py']);
  });

  it('prefers `documentChanges` and skips file operations', () => {
    const edits = editsByUri({
      changes: { 'file:///ignored.py': [] },
      documentChanges: [
        { textDocument: { uri: 'file:///a.py', version: 3 }, edits: [{ range: range(1, 0, 1, 0), newText: 'y' }] },
        { kind: 'create', uri: 'file:///new.py' },
        { textDocument: { uri: 'file:///a.py', version: 3 }, edits: [{ range: range(2, 0, 2, 0), newText: 'z' }] },
      ],
    });
    assert.deepEqual([...edits.keys()], ['file:///a.py']);
    assert.deepEqual(edits.get('file:///a.py')?.map((edit) => edit.newText), ['y', 'z']);
  });
});

describe('rewriteCommand', () => {
  it("points the server's request commands at the extension's palette commands, keeping arguments", () => {
    const args = ['file:///a.py', range(2, 0, 4, 0)];
    assert.deepEqual(rewriteCommand({ title: 'Review selection with Chorus', command: 'chorus.reviewSelection', arguments: args }), {
      title: 'Review selection with Chorus',
      command: 'chorus.palette.reviewSelection',
      arguments: args,
    });
    assert.equal(rewriteCommand({ command: 'chorus.implementStub' }).command, 'chorus.palette.implementStub');
    assert.equal(rewriteCommand({ command: 'chorus.explainDiagnostics' }).command, 'chorus.palette.explainDiagnostics');
    assert.equal(rewriteCommand({ title: 'Chorus: show model stats', command: 'chorus.stats', arguments: [] }).command, 'chorus.palette.showStats');
  });

  it('leaves other commands alone', () => {
    const command = { title: 'Fix (3/3 models)', command: 'chorus.applyEdit', arguments: [1] };
    assert.equal(rewriteCommand(command), command);
    for (const feedback of ['chorus.dismissFinding', 'chorus.markUseful', 'chorus.acceptFix']) {
      const quickFix = { title: 'Dismiss: not a problem', command: feedback, arguments: ['0123456789abcdef', 'file:///a.py'] };
      assert.equal(rewriteCommand(quickFix), quickFix);
    }
  });
});

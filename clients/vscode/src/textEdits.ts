/**
 * Applying an LSP WorkspaceEdit to a document's text in memory, for the implement diff preview,
 * and rewriting the server's code-action commands to the extension's own commands.
 *
 * No `vscode` import: the unit tests run this module under plain Node.
 */

import { ServerCommands, type LspPosition, type LspTextEdit, type LspWorkspaceEdit } from './protocol';

/** The offset of an LSP position in `text` (clamped to the text, like editors do). */
export function offsetAt(text: string, position: LspPosition): number {
  let offset = 0;
  for (let line = 0; line < position.line; line++) {
    const newline = text.indexOf('\n', offset);
    if (newline < 0) {
      return text.length;
    }
    offset = newline + 1;
  }
  const lineEnd = text.indexOf('\n', offset);
  const end = lineEnd < 0 ? text.length : lineEnd;
  const lineLength = end - offset - (text[end - 1] === '\r' && end > offset ? 1 : 0);
  return offset + Math.min(Math.max(position.character, 0), lineLength);
}

/** `text` with `edits` applied; edits must not overlap (LSP's rule). */
export function applyTextEdits(text: string, edits: readonly LspTextEdit[]): string {
  const located = edits
    .map((edit, index) => ({
      start: offsetAt(text, edit.range.start),
      end: offsetAt(text, edit.range.end),
      newText: edit.newText,
      index,
    }))
    .sort((a, b) => a.start - b.start || a.end - b.end || a.index - b.index);
  let result = '';
  let cursor = 0;
  for (const edit of located) {
    if (edit.start < cursor) {
      throw new Error('overlapping text edits');
    }
    result += text.slice(cursor, edit.start) + edit.newText;
    cursor = edit.end;
  }
  return result + text.slice(cursor);
}

interface TextDocumentEditLike {
  textDocument: { uri: string };
  edits: LspTextEdit[];
}

function isTextDocumentEdit(change: unknown): change is TextDocumentEditLike {
  const candidate = change as Partial<TextDocumentEditLike> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.textDocument?.uri === 'string' &&
    Array.isArray(candidate.edits)
  );
}

/** Text edits per document URI, from either form of WorkspaceEdit. */
export function editsByUri(edit: LspWorkspaceEdit): Map<string, LspTextEdit[]> {
  const byUri = new Map<string, LspTextEdit[]>();
  const add = (uri: string, edits: LspTextEdit[]): void => {
    byUri.set(uri, [...(byUri.get(uri) ?? []), ...edits]);
  };
  for (const change of edit.documentChanges ?? []) {
    if (isTextDocumentEdit(change)) {
      add(change.textDocument.uri, change.edits);
    }
  }
  if (!edit.documentChanges) {
    for (const [uri, edits] of Object.entries(edit.changes ?? {})) {
      add(uri, edits);
    }
  }
  return byUri;
}

/** The extension command that replaces a server command in code actions (`chorus.implementStub` → palette). */
export const PALETTE_FOR_SERVER_COMMAND: Readonly<Record<string, string>> = {
  [ServerCommands.reviewSelection]: 'chorus.palette.reviewSelection',
  [ServerCommands.implementStub]: 'chorus.palette.implementStub',
  [ServerCommands.explainDiagnostics]: 'chorus.palette.explainDiagnostics',
  [ServerCommands.stats]: 'chorus.palette.showStats',
};

/**
 * A code action's command, pointed at the extension's own command when the server offers one of its
 * request commands, so the lightbulb gets the same progress, quick pick and preview as the palette.
 * The arguments ([uri, range] or [uri, position]) are passed on unchanged.
 */
export function rewriteCommand<T extends { command: string; arguments?: unknown[] }>(command: T): T {
  const replacement = PALETTE_FOR_SERVER_COMMAND[command.command];
  return replacement === undefined ? command : { ...command, command: replacement };
}

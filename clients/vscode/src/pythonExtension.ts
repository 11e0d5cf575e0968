/**
 * The Python extension's interpreter, when that extension is installed (it is optional).
 *
 * Uses the extension's public API (`environments.getActiveEnvironmentPath` / `resolveEnvironment`), and
 * the older `settings.getExecutionDetails` when only that exists. Any failure means "no interpreter".
 */

import * as vscode from 'vscode';

interface EnvironmentPath {
  id?: string;
  path: string;
}

interface ResolvedEnvironment {
  executable?: { uri?: vscode.Uri };
}

interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): EnvironmentPath;
    resolveEnvironment(environment: EnvironmentPath | string): Promise<ResolvedEnvironment | undefined>;
  };
  settings?: {
    getExecutionDetails(resource?: vscode.Uri): { execCommand: string[] | undefined };
  };
}

export const PYTHON_EXTENSION_ID = 'ms-python.python';

/** The selected interpreter's executable, or undefined when the Python extension is absent or has none. */
export async function findPythonExtensionInterpreter(log: vscode.LogOutputChannel): Promise<string | undefined> {
  const extension = vscode.extensions.getExtension<PythonExtensionApi>(PYTHON_EXTENSION_ID);
  if (extension === undefined) {
    return undefined;
  }
  try {
    const api = extension.isActive ? extension.exports : await extension.activate();
    const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
    if (api.environments) {
      const active = api.environments.getActiveEnvironmentPath(resource);
      const resolved = await api.environments.resolveEnvironment(active);
      const executable = resolved?.executable?.uri?.fsPath;
      if (executable) {
        log.info(`The Python extension's interpreter is ${executable}.`);
        return executable;
      }
    }
    const command = api.settings?.getExecutionDetails(resource).execCommand;
    return command !== undefined && command.length === 1 ? command[0] : undefined;
  } catch (error) {
    log.warn(`Could not ask the Python extension for its interpreter: ${String(error)}`);
    return undefined;
  }
}

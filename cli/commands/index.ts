import type { Command } from '../command.js';
import { command as cniInstall } from './cni-install.js';
import { command as compile } from './compile.js';
import { command as daemon } from './daemon.js';
import { command as explain } from './explain.js';
import { command as lab } from './lab.js';
import { command as lsp } from './lsp.js';
import { command as metrics } from './metrics.js';
import { command as reach } from './reach.js';
import { command as status } from './status.js';
import { command as test } from './test.js';

export const commands: readonly Command[] = [compile, explain, reach, test, lab, lsp, daemon, status, metrics, cniInstall];

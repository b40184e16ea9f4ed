/**
 * Config fragments and Kconfig: read the harness's fragments, check which of their options a
 * merged .config lost, and say why by reading the symbol's `depends on` lines from the tree's
 * Kconfig files, with the current value of every symbol they name.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { vmDir } from '../util/paths.js';

export const FRAGMENT_DIR = join(vmDir, 'config');

/** The fragments merged for a flavor, in merge order. */
export function fragmentPaths(debug: boolean): string[] {
  return [join(FRAGMENT_DIR, 'base.config'), ...(debug ? [join(FRAGMENT_DIR, 'debug.config')] : [])];
}

/** Where a tree keeps the BPF selftests and the config fragments they need. */
export const SELFTESTS_SUBDIR = join('tools', 'testing', 'selftests', 'bpf');

/** Subdirectories of the selftests the Makefile builds in place (make -C), not into OUTPUT. */
const IN_PLACE = ['tools/testing/selftests/bpf/test_kmods/', 'tools/testing/selftests/bpf/libarena/'];
/** What those in-place builds leave: objects, modules, skeletons, kbuild's bookkeeping. */
const GENERATED = /(\.o|\.ko|\.a|\.skel\.h|\.mod|\.mod\.c|\.cmd|\/Module\.symvers|\/modules\.order)$/;

/**
 * What a selftests build wrote into the tree itself (a tree path relative to its top): not the
 * tree's state (its key), and not sent to a build host, whose own build makes its own.
 */
export function selftestsBuiltInPlace(rel: string): boolean {
  return IN_PLACE.some((d) => rel.startsWith(d)) && GENERATED.test(rel);
}

/**
 * The BPF selftests' own fragments in a tree, merged over ours (theirs win a conflict):
 * `config` (what the tests need), `config.vm` (virtio, 9p) and `config.<arch>`.
 */
export function selftestsFragmentPaths(tree: string): string[] {
  return ['config', 'config.vm', 'config.x86_64'].map((f) => join(tree, SELFTESTS_SUBDIR, f));
}

/**
 * A fragment's requests: CONFIG_X -> value text ('y', '60', '"str"'), or 'n' for
 * `# CONFIG_X is not set`. A later line for the same option wins, as in merge_config.sh.
 */
export function parseFragment(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    let m = /^(CONFIG_[A-Za-z0-9_]+)=(.*)$/.exec(line);
    if (m) {
      out.set(m[1]!, m[2]!);
      continue;
    }
    m = /^# (CONFIG_[A-Za-z0-9_]+) is not set$/.exec(line);
    if (m) out.set(m[1]!, 'n');
  }
  return out;
}

/** Every option of a .config, with `# CONFIG_X is not set` as 'n'. */
export function parseConfigWithUnset(text: string): Map<string, string> {
  return parseFragment(text);
}

export interface DroppedOption {
  option: string;
  wanted: string;
  /** What the merged config has: a value, or 'n' / 'absent'. */
  got: string;
  fragment: string;
}

/** The fragment options whose value did not survive into `config`. */
export function droppedOptions(fragments: ReadonlyArray<{ name: string; options: Map<string, string> }>, config: Map<string, string>): DroppedOption[] {
  const wanted = new Map<string, { value: string; fragment: string }>();
  for (const f of fragments) for (const [k, v] of f.options) wanted.set(k, { value: v, fragment: f.name });
  const out: DroppedOption[] = [];
  for (const [option, w] of wanted) {
    const got = config.get(option);
    const ok = w.value === 'n' ? got === undefined || got === 'n' : got === w.value;
    if (!ok) out.push({ option, wanted: w.value, got: got ?? 'absent', fragment: w.fragment });
  }
  return out;
}

/** A symbol's definition in a Kconfig file: where, its prompt-less-ness, its dependencies. */
export interface KconfigSymbol {
  file: string;
  line: number;
  dependsOn: string[];
  /** Enclosing `if EXPR` blocks and `menu`/`choice` `depends on`. */
  enclosing: string[];
  hasPrompt: boolean;
}

let kconfigFilesCache: { tree: string; files: string[] } | undefined;

function kconfigFiles(tree: string): string[] {
  if (kconfigFilesCache?.tree === tree) return kconfigFilesCache.files;
  const files: string[] = [];
  const walk = (dir: string): void => {
    let ents;
    try {
      ents = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) {
      if (e.isDirectory()) {
        if (e.name.startsWith('.') || (dir === tree && ['Documentation', 'tools', 'samples'].includes(e.name))) continue;
        walk(join(dir, e.name));
      } else if (e.isFile() && e.name.startsWith('Kconfig')) files.push(join(dir, e.name));
    }
  };
  walk(tree);
  kconfigFilesCache = { tree, files };
  return files;
}

/** Find `config SYM` (or menuconfig) in the tree's Kconfig files; SYM without the CONFIG_ prefix. */
export function findKconfigSymbol(tree: string, sym: string): KconfigSymbol[] {
  const name = sym.replace(/^CONFIG_/, '');
  const found: KconfigSymbol[] = [];
  const head = new RegExp(`^\\s*(?:menu)?config\\s+${name}\\s*$`);
  for (const file of kconfigFiles(tree)) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    if (!text.includes(name)) continue;
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (!head.test(lines[i]!)) continue;
      const dependsOn: string[] = [];
      let hasPrompt = false;
      for (let j = i + 1; j < lines.length; j++) {
        const l = lines[j]!;
        if (/^\s*(?:menu)?config\s|^\s*(?:endif|endmenu|endchoice|choice|menu|if|source|comment)\b/.test(l)) break;
        if (/^\s*(?:help|---help---)\s*$/.test(l)) break;
        const d = /^\s*depends\s+on\s+(.+?)\s*$/.exec(l);
        if (d) dependsOn.push(d[1]!);
        if (/^\s*(?:bool|tristate|string|int|hex)\s+"/.test(l) || /^\s*prompt\s+"/.test(l)) hasPrompt = true;
      }
      // Enclosing `if` blocks, menus and choices above the definition, innermost last. A menu's
      // or choice's own `depends on` lines come right after its header, before any entry.
      const stack: Array<{ kind: 'if' | 'menu' | 'choice'; cond: string }> = [];
      let header = false;
      for (let j = 0; j < i; j++) {
        const l = lines[j]!;
        // Expressions start with a symbol, '!' or '('; help text ("if you say Y") does not.
        const m = /^\s*if\s+([A-Z0-9_!(].*?)\s*$/.exec(l);
        const d = /^\s*depends\s+on\s+(.+?)\s*$/.exec(l);
        if (m) {
          stack.push({ kind: 'if', cond: m[1]! });
          header = false;
        } else if (/^\s*endif\s*(#.*)?$/.test(l) || /^\s*(endmenu|endchoice)\s*(#.*)?$/.test(l)) {
          stack.pop();
          header = false;
        } else if (/^\s*(menu\s+"|choice\s*$)/.test(l)) {
          stack.push({ kind: /^\s*menu/.test(l) ? 'menu' : 'choice', cond: '' });
          header = true;
        } else if (/^\s*(menuconfig|config|comment|source)\s/.test(l)) {
          header = false;
        } else if (d && header) {
          const top = stack[stack.length - 1]!;
          top.cond = top.cond ? `(${top.cond}) && (${d[1]})` : d[1]!;
        }
      }
      const enclosing = stack.filter((e) => e.cond !== '').map((e) => (e.kind === 'if' ? `if ${e.cond}` : `${e.kind} depends on ${e.cond}`));
      found.push({ file: relative(tree, file), line: i + 1, dependsOn, enclosing, hasPrompt });
    }
  }
  return found;
}

/** The symbols named in a Kconfig expression. */
export function symbolsIn(expr: string): string[] {
  const syms = expr.replace(/"[^"]*"/g, ' ').match(/\b[A-Z][A-Z0-9_]*\b/g) ?? [];
  return [...new Set(syms.filter((s) => !['y', 'n', 'm'].includes(s)))];
}

/** Symbol values as `SYM=value` for display; absent ones are shown as =n. */
function withValues(expr: string, config: Map<string, string>): string {
  const vals = symbolsIn(expr).map((s) => `${s}=${config.get(`CONFIG_${s}`) ?? 'n'}`);
  return vals.length > 0 ? `${expr} (${vals.join(', ')})` : expr;
}

/**
 * Why an option was dropped, in one line: its `depends on` and enclosing conditions with the
 * values the merged config gave the symbols in them.
 */
export function explainDropped(tree: string, d: DroppedOption, config: Map<string, string>): string {
  const defs = findKconfigSymbol(tree, d.option);
  const what = `${d.option}=${d.wanted} (from ${d.fragment}) became ${d.got === 'absent' ? 'unset' : d.got}`;
  if (defs.length === 0) return `${what}: no such symbol in this tree's Kconfig (renamed or removed?)`;
  const reasons: string[] = [];
  for (const def of defs) {
    const conds = [...def.enclosing, ...def.dependsOn.map((x) => `depends on ${x}`)];
    const shown = conds.map((c) => withValues(c, config));
    reasons.push(`${def.file}:${def.line}${shown.length > 0 ? `: ${shown.join('; ')}` : ''}${def.hasPrompt ? '' : ' (no prompt: only selected or defaulted)'}`);
  }
  return `${what}: ${reasons.join(' | ')}`;
}

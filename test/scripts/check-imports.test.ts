// The import check (scripts/check-imports.ts) must see an upward import, a cycle and a module
// with no layer; each case is planted in a scratch copy of a tiny harness/ tree.
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { checkImports } from '../../scripts/check-imports.js';
import { projectRoot } from '../../harness/util/paths.js';
import { tempDir, type Teardown } from '../helpers/temp-dir.js';

function scratchHarness(t: Teardown, files: Record<string, string>): string {
  const root = tempDir(t, 'imports');
  for (const [path, text] of Object.entries(files)) {
    const full = join(root, 'harness', path);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text);
  }
  return root;
}

const downward = {
  'util/a.ts': 'export const a = 1;\n',
  'results/r.ts': "import { a } from '../util/a.js';\nexport const r = a;\n",
  'verdict/v.ts': "import type {\n  r,\n} from '../results/r.js';\nexport const v = 2;\n",
};

t.test('imports that point down, and none in a circle: no finding', async (t) => {
  const root = scratchHarness(t, downward);
  t.same(checkImports(root), []);
});

t.test('a lower module importing a higher one is an upward finding', async (t) => {
  const root = scratchHarness(t, { ...downward, 'results/up.ts': "export { v } from '../verdict/v.js';\n" });
  t.same(checkImports(root).map((f) => f.kind), ['upward']);
});

t.test('files that import each other, even inside one module and by type only, are a cycle', async (t) => {
  const root = scratchHarness(t, {
    ...downward,
    'util/b.ts': "import type { C } from './c.js';\nexport type B = C;\n",
    'util/c.ts': "import type { B } from './b.js';\nexport type C = B | 1;\n",
  });
  const findings = checkImports(root);
  t.same(findings.map((f) => f.kind), ['cycle']);
  t.match(findings[0]?.text ?? '', /util\/b\.ts <-> util\/c\.ts/);
});

t.test('a dynamic import counts, and a folder with no layer is named', async (t) => {
  const root = scratchHarness(t, { ...downward, 'gadgets/g.ts': "export const g = () => import('../util/a.js');\n" });
  t.same(checkImports(root).map((f) => f.text), ['module gadgets has no place in LAYERS (scripts/check-imports.ts)']);
});

t.test("this checkout's harness/: no cycle, no upward import, every module placed", async (t) => {
  t.same(checkImports(projectRoot).map((f) => `${f.kind}: ${f.text}`), []);
});

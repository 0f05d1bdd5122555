// baton's import rule (README.md, Layout): imports run one way, down the layers below, never up, and the
// folders of one layer do not import each other, so no two folders import each other. `npm run check` and
// `npm test` (test/run.ts) run it; each violation names its rule.
// A lazy `import()` of a sub-command or benchmark is a plugin load, not an edge: the rules skip dynamic
// imports. Every static import, `import type` too, is an edge.

// Bottom first: a module may import its own layer and the layers before it. A layer that is a group of
// sibling folders (`(a|b)`) is one step: its folders may not import each other.
const layers = [
  [
    '^actors/core/',
    'the actor core (actor system, clock, backoff, errors, redaction) imports nothing of the repository',
  ],
  ['^actors/[^/]+\\.ts$', 'the ports, the pipeline API and the event store import only the core'],
  [
    '^actors/(partition|kafka|postgres|redis|sqlite)/',
    'the partition actor and the adapters meet only at the ports',
  ],
  ['^cluster/[^/]+\\.ts$', 'membership, routing and the coordinator sit on the actors'],
  ['^runtime/[^/]+\\.ts$', 'the node shell: config, logs, metrics and the NodeApi its parts share'],
  [
    '^runtime/(http|backends)/',
    'the HTTP API and the two backends are parts of the node, apart from each other',
  ],
  ['^runtime/node/', 'runtime/node assembles a node from a backend, the HTTP API and the actors'],
  ['^runtime/cli/', 'the CLI is the composition root: nothing imports it but the leaves it loads lazily'],
  ['^deploy/(local)/', 'deploy/ is a leaf the CLI loads lazily (`baton services`)'],
  ['^examples/[^/]+\\.ts$', 'examples/ are pipelines a node loads by path; nothing imports them'],
  ['^bench/kit/', 'the benchmarks share bench/kit'],
  ['^bench/(e2e)/', 'the parts of the e2e benchmark'],
  [
    '^bench/(scale)/',
    "the parts of the scale benchmark, which start, feed and time nodes with the e2e benchmark's parts",
  ],
  ['^bench/[^/]+\\.ts$', 'the benchmarks and their registry, which the CLI loads lazily (`baton bench`)'],
]

// Tests (`*.test.ts`, `test/`) and the fakes beside the code they fake (`testing.ts`) may import anything.
const testCode = '(\\.test\\.ts$|^test/|(^|/)testing\\.ts$)'
const anyLayer = layers.map(([path]) => path).join('|')

const upward = layers.slice(0, -1).map(([path, why], i) => ({
  name: 'no-upward-imports',
  severity: 'error',
  comment: `${path}: ${why}; it imports only its own layer and those below it (.dependency-cruiser.cjs)`,
  from: { path, pathNot: testCode },
  to: {
    path: layers
      .slice(i + 1)
      .map(([p]) => p)
      .join('|'),
    dynamic: false,
  },
}))

// `^x/(a|b)/` -> sibling folders of one layer: a module in x/a/ may not import x/b/.
const siblings = layers
  .filter(([path]) => path.endsWith(')/'))
  .map(([path, why]) => ({
    name: 'no-folder-cycles',
    severity: 'error',
    comment: `${path}: ${why}; one folder of a layer does not import another`,
    from: { path, pathNot: testCode },
    to: { path, pathNot: `${path.slice(0, path.indexOf('('))}$1/`, dynamic: false },
  }))

module.exports = {
  forbidden: [
    ...upward,
    ...siblings,
    {
      name: 'every-module-in-a-layer',
      severity: 'error',
      comment:
        'a module outside every layer is not checked: add its folder to the layers in .dependency-cruiser.cjs',
      from: { pathNot: `${anyLayer}|${testCode}` },
      to: {},
    },
    {
      name: 'no-imports-of-tests',
      severity: 'error',
      comment: 'only tests import tests and test/support/',
      from: { pathNot: testCode },
      to: { path: '(\\.test\\.ts$|^test/)' },
    },
    {
      name: 'no-fakes-in-production',
      severity: 'error',
      comment: 'a node never runs a fake: testing.ts modules are for tests, benchmarks and the local harness',
      from: { path: '^(actors|cluster|runtime)/', pathNot: testCode },
      to: { path: '(^|/)testing\\.ts$' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(node_modules|data|bench/results)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
}

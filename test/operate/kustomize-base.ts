import { existsSync, readFileSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { parse, parseAllDocuments } from 'yaml'

/** One resource of a kustomize base, with the file it came from (relative to the base). */
export interface Manifest {
  readonly file: string
  readonly doc: Record<string, unknown> & { apiVersion: string; kind: string; metadata: { name: string } }
}

/**
 * The resources a kustomization lists, read the way `kustomize build` reads a plain base: each entry of
 * `resources` is a YAML file (possibly several documents) or a folder with its own kustomization.yaml.
 * Only what deploy/k8s uses is supported; anything else (patches, generators, components) throws, so
 * the test cannot silently check less than kustomize would build.
 */
export function loadBase(dir: string, root = dir): Manifest[] {
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Record<
    string,
    unknown
  >
  const supported = new Set(['apiVersion', 'kind', 'resources', 'images'])
  for (const key of Object.keys(kustomization)) {
    if (!supported.has(key))
      throw new Error(`${relative(root, dir)}/kustomization.yaml: '${key}' is not supported here`)
  }
  return ((kustomization.resources ?? []) as string[]).flatMap((entry) => {
    const path = join(dir, entry)
    if (!existsSync(path))
      throw new Error(`${relative(root, dir)}/kustomization.yaml lists ${entry}, which does not exist`)
    if (statSync(path).isDirectory()) return loadBase(path, root)
    return parseAllDocuments(readFileSync(path, 'utf8')).map((d) => {
      if (d.errors.length > 0) throw new Error(`${relative(root, path)}: ${d.errors[0]?.message}`)
      return { file: relative(root, path), doc: d.toJS() as Manifest['doc'] }
    })
  })
}

import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject'
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule'
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor'
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet'
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget'
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap'
import { Secret } from 'kubernetes-models/v1/Secret'
import { Service } from 'kubernetes-models/v1/Service'
import { checkStructural, type StructuralSchema } from './crd-schema.ts'

/** A kubernetes-models class: its prototype's `validate` runs the generated schema check on `this`. */
type ModelClass = { prototype: { validate(): void } }

/**
 * Kinds the kubernetes-models packages validate: the Kubernetes API's own, and the KEDA and
 * prometheus-operator CRDs they are generated from. Add a kind here when the base gains one.
 */
const MODELS: Record<string, ModelClass> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
  'keda.sh/v1alpha1/ScaledObject': ScaledObject,
}

/** CRDs kubernetes-models has no package for (Strimzi, CloudNativePG): their schemas, from crd-schemas/. */
const CRDS: Record<string, StructuralSchema> = Object.fromEntries(
  readdirSync(join(import.meta.dir, 'crd-schemas')).map((file) => {
    const crd = JSON.parse(readFileSync(join(import.meta.dir, 'crd-schemas', file), 'utf8')) as {
      apiVersion: string
      kind: string
      schema: StructuralSchema
    }
    return [`${crd.apiVersion}/${crd.kind}`, crd.schema]
  }),
)

/** Which of the two validators checks a kind, for test names and the report. */
export function validatorOf(doc: {
  apiVersion: string
  kind: string
}): 'kubernetes-models' | 'crd-schema' | undefined {
  const key = `${doc.apiVersion}/${doc.kind}`
  return key in MODELS ? 'kubernetes-models' : key in CRDS ? 'crd-schema' : undefined
}

/**
 * Validates one manifest offline as the API server would on create, including the unknown-field check
 * that `kubectl apply --validate=strict` adds; returns the problems, [] when there are none. Kinds neither
 * validator knows are a problem too.
 */
export function validateManifest(doc: Record<string, unknown>): string[] {
  const key = `${doc.apiVersion}/${doc.kind}`
  const model = MODELS[key]
  if (model) return validateWithModel(model, doc)
  const crd = CRDS[key]
  if (crd) {
    const metadata = doc.metadata as { name?: unknown } | undefined
    const errors = typeof metadata?.name === 'string' ? [] : ['/metadata/name: required']
    return [...errors, ...checkStructural(doc, crd)]
  }
  return [`no schema for ${key}`]
}

/**
 * kubernetes-models' validators check types, required fields and enums but accept any extra field. To
 * find those too, the document is validated through a proxy that records which properties the
 * generated validator reads: it reads every property its schema knows, and enumerates the keys of maps
 * (labels, resources, …). A key present in the document that the validator neither read nor enumerated
 * is not in the schema: an unknown field.
 */
function validateWithModel(model: ModelClass, doc: Record<string, unknown>): string[] {
  const read = new Map<string, Set<string> | 'map'>()
  try {
    model.prototype.validate.call(tracked(doc, '', read))
  } catch (err) {
    return [String(err instanceof Error ? err.message : err)]
  }
  const unknown: string[] = []
  collectUnknown(doc, '', read, unknown)
  return unknown.map((path) => `${path}: unknown field`)
}

function tracked(value: unknown, path: string, read: Map<string, Set<string> | 'map'>): unknown {
  if (value === null || typeof value !== 'object') return value
  return new Proxy(value, {
    get(target, prop, receiver) {
      const child = Reflect.get(target, prop, receiver)
      if (typeof prop !== 'string' || (Array.isArray(target) && !/^\d+$/.test(prop))) return child
      const seen = read.get(path)
      if (seen !== 'map') read.set(path, (seen ?? new Set()).add(prop))
      return tracked(child, `${path}/${prop}`, read)
    },
    ownKeys(target) {
      read.set(path, 'map')
      return Reflect.ownKeys(target)
    },
  })
}

function collectUnknown(
  value: unknown,
  path: string,
  read: Map<string, Set<string> | 'map'>,
  out: string[],
): void {
  if (value === null || typeof value !== 'object') return
  if (Array.isArray(value)) {
    for (const [i, item] of value.entries()) collectUnknown(item, `${path}/${i}`, read, out)
    return
  }
  const seen = read.get(path)
  for (const [key, child] of Object.entries(value)) {
    if (seen === 'map' || seen?.has(key)) collectUnknown(child, `${path}/${key}`, read, out)
    else out.push(`${path}/${key}`)
  }
}

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'

const root = join(import.meta.dir, '..', '..')

/** The plain rules file, the PrometheusRule and the promtool tests, as shipped. */
export const RULES_FILE = join(root, 'deploy', 'prometheus', 'baton-rules.yaml')
export const RULES_TESTS = join(root, 'deploy', 'prometheus', 'baton-rules.test.yaml')
export const PROMETHEUS_RULE = join(root, 'deploy', 'k8s', 'baton', 'prometheus-rule.yaml')
export const RUNBOOKS = join(root, 'docs', 'runbooks')

export interface AlertRule {
  readonly alert: string
  readonly expr: string
  readonly for?: string
  readonly labels: Record<string, string>
  readonly annotations: Record<string, string>
}

export interface RuleGroups {
  readonly groups: { readonly name: string; readonly interval?: string; readonly rules: AlertRule[] }[]
}

export function readRules(): RuleGroups {
  return parse(readFileSync(RULES_FILE, 'utf8')) as RuleGroups
}

export function alertRules(rules: RuleGroups = readRules()): AlertRule[] {
  return rules.groups.flatMap((g) => g.rules)
}

/**
 * The shipped rules with every group evaluated every `interval` and every `for:` set to `forDuration`:
 * what a test with a real Prometheus loads, so alerts fire within seconds. Never written back to deploy/.
 */
export function testOverlay(options: { interval: string; forDuration: string }): RuleGroups {
  const rules = readRules()
  return {
    groups: rules.groups.map((g) => ({
      ...g,
      interval: options.interval,
      rules: g.rules.map((r) => ({ ...r, for: options.forDuration })),
    })),
  }
}

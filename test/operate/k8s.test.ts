import { describe, expect, test } from 'bun:test'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { productionPg } from '../../bench/kit/pg-settings.ts'
import { start } from '../../runtime/cli/commands/start.ts'
import { validateManifest, validatorOf } from './k8s-validate.ts'
import { loadBase, type Manifest } from './kustomize-base.ts'

const root = join(import.meta.dir, '..', '..')
const base = join(root, 'deploy', 'k8s')
const manifests = loadBase(base)

// biome-ignore lint/suspicious/noExplicitAny: manifests are checked field by field below; any keeps that short
type Any = any

function find(kind: string, name: string): Any {
  const found = manifests.find((m) => m.doc.kind === kind && m.doc.metadata.name === name)
  if (!found) throw new Error(`deploy/k8s has no ${kind} ${name}`)
  return found.doc
}

const label = (m: Manifest) => `${m.file}: ${m.doc.kind} ${m.doc.metadata.name}`

describe('deploy/k8s validates offline against the Kubernetes and the operators’ schemas', () => {
  test('the base has every resource issue 7 asks for', () => {
    expect(manifests.map((m) => `${m.doc.kind}/${m.doc.metadata.name}`).sort()).toEqual(
      [
        'ConfigMap/baton',
        'Secret/baton',
        'StatefulSet/baton',
        'Service/baton-nodes',
        'Service/baton',
        'PodDisruptionBudget/baton',
        'ServiceMonitor/baton',
        'PrometheusRule/baton',
        'ScaledObject/baton',
        'Kafka/baton-kafka',
        'KafkaNodePool/dual',
        'KafkaTopic/events',
        'KafkaTopic/events-dlq',
        'Cluster/baton-pg',
        'ConfigMap/baton-redis',
        'Service/baton-redis',
        'StatefulSet/baton-redis',
      ].sort(),
    )
  })

  for (const m of manifests) {
    test(`${label(m)} (${validatorOf(m.doc) ?? 'no validator'})`, () => {
      expect(validateManifest(m.doc)).toEqual([])
    })
  }

  test('`kubectl kustomize` builds the same resources, when kubectl is installed', () => {
    const kubectl = Bun.which('kubectl')
    if (kubectl === null) return // the file-by-file reading above covers the base without it
    const built = Bun.spawnSync([kubectl, 'kustomize', base])
    expect(built.stderr.toString()).toBe('')
    const docs = parseAllDocuments(built.stdout.toString()).map((d) => d.toJS() as Manifest['doc'])
    const names = (list: Manifest['doc'][]) => list.map((d) => `${d.kind}/${d.metadata.name}`).sort()
    expect(names(docs)).toEqual(names(manifests.map((m) => m.doc)))
  })
})

describe('the validators reject what the API server would', () => {
  const statefulSet = () => structuredClone(find('StatefulSet', 'baton'))
  test('an unknown field of a built-in kind (a typo in a container)', () => {
    const doc = statefulSet()
    doc.spec.template.spec.containers[0].readinesProbe = doc.spec.template.spec.containers[0].readinessProbe
    expect(validateManifest(doc)).toEqual(['/spec/template/spec/containers/0/readinesProbe: unknown field'])
  })
  test('a wrong type and a missing required field of a built-in kind', () => {
    const doc = statefulSet()
    doc.spec.replicas = '3'
    expect(validateManifest(doc).join()).toContain('/spec/replicas')
    const noSelector = statefulSet()
    delete noSelector.spec.selector
    expect(validateManifest(noSelector).join()).toContain('selector')
  })
  test('an unknown field of a KEDA ScaledObject', () => {
    const doc = structuredClone(find('ScaledObject', 'baton'))
    doc.spec.maxReplicas = 3
    expect(validateManifest(doc)).toEqual(['/spec/maxReplicas: unknown field'])
  })
  test('unknown fields, wrong enums and missing fields of Strimzi and CloudNativePG resources', () => {
    const kafka = structuredClone(find('Kafka', 'baton-kafka'))
    kafka.spec.kafka.replicas = 3
    kafka.spec.kafka.listeners[0].type = 'internel'
    delete kafka.spec.kafka.listeners[1].tls
    expect(validateManifest(kafka)).toEqual([
      expect.stringMatching(/^\/spec\/kafka\/listeners\/0\/type: not one of \["internal",/),
      '/spec/kafka/listeners/1/tls: required',
      '/spec/kafka/replicas: unknown field',
    ])
    const pg = structuredClone(find('Cluster', 'baton-pg'))
    pg.spec.instance = 3
    expect(validateManifest(pg)).toEqual(['/spec/instance: unknown field'])
  })
  test('a kind with no schema', () => {
    expect(
      validateManifest({ apiVersion: 'example.com/v1', kind: 'Thing', metadata: { name: 'x' } }),
    ).toEqual(['no schema for example.com/v1/Thing'])
  })
})

describe('the baton StatefulSet', () => {
  const sts = find('StatefulSet', 'baton')
  const pod = sts.spec.template.spec
  const container = pod.containers.find((c: Any) => c.name === 'baton')
  const config = find('ConfigMap', 'baton').data
  const env = (name: string) => container.env.find((e: Any) => e.name === name)

  test('starts and scales pods in parallel, and is governed by the headless Service', () => {
    expect(sts.spec.podManagementPolicy).toBe('Parallel')
    const governing = find('Service', sts.spec.serviceName)
    expect(governing.spec.clusterIP).toBe('None')
  })

  test('BATON_NODE_ID is the pod’s name, and the advertised URL its DNS name', () => {
    expect(env('BATON_NODE_ID')).toEqual({
      name: 'BATON_NODE_ID',
      valueFrom: { fieldRef: { fieldPath: 'metadata.name' } },
    })
    // Other nodes forward requests to the pod's own DNS name under the governing Service.
    expect(env('BATON_ADVERTISE_URL').value).toBe(
      `http://$(BATON_NODE_ID).${sts.spec.serviceName}:${config.BATON_HTTP_PORT}`,
    )
  })

  test('startup, readiness (/readyz) and liveness (/healthz) probes on the API port', () => {
    expect(container.startupProbe.httpGet).toEqual({ path: '/healthz', port: 'http' })
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' })
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' })
    const port = container.ports.find((p: Any) => p.name === 'http')
    expect(String(port.containerPort)).toBe(config.BATON_HTTP_PORT)
  })

  test('the grace period covers the preStop pause, the drain deadline and the stop deadline after it', () => {
    const preStopSeconds = container.lifecycle.preStop.sleep.seconds
    expect(preStopSeconds).toBeGreaterThan(0)
    const drainMs = Number(config.BATON_DRAIN_TIMEOUT_MS)
    expect(drainMs).toBeGreaterThan(0)
    // `baton start` exits at the latest BATON_DRAIN_TIMEOUT_MS + 10 s after SIGTERM (runtime/cli/commands/start.ts).
    expect(pod.terminationGracePeriodSeconds * 1000).toBeGreaterThan(preStopSeconds * 1000 + drainMs + 10_000)
  })

  test('requests and limits for CPU and memory', () => {
    expect(Object.keys(container.resources.requests).sort()).toEqual(['cpu', 'memory'])
    expect(Object.keys(container.resources.limits).sort()).toEqual(['cpu', 'memory'])
  })

  test('non-root, read-only root filesystem, no capabilities, no privilege escalation, seccomp RuntimeDefault', () => {
    expect(pod.securityContext.runAsNonRoot).toBe(true)
    expect(pod.securityContext.runAsUser).toBeGreaterThan(0)
    expect(pod.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' })
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      seccompProfile: { type: 'RuntimeDefault' },
    })
    expect(container.securityContext.capabilities.add).toBeUndefined()
    expect(pod.automountServiceAccountToken).toBe(false)
  })

  test('every setting it is given is one `baton start` knows', () => {
    const known = new Set(start.help.match(/\b(?:BATON_[A-Z_]+|KAFKA_BROKERS|DATABASE_URL|REDIS_URL)\b/g))
    const given = [...Object.keys(config), ...container.env.map((e: Any) => e.name)].filter(
      (name) => name !== 'REDIS_PASSWORD', // only an ingredient of REDIS_URL
    )
    expect(given.filter((name) => !known.has(name))).toEqual([])
    for (const required of ['KAFKA_BROKERS', 'DATABASE_URL', 'REDIS_URL', 'BATON_API_TOKEN'])
      expect(given).toContain(required)
  })

  test('every Secret and ConfigMap it reads exists in the base, or is the one CloudNativePG writes', () => {
    const cnpgApp = `${find('Cluster', 'baton-pg').metadata.name}-app`
    for (const e of container.env) {
      const ref = e.valueFrom?.secretKeyRef
      if (!ref) continue
      if (ref.name === cnpgApp) expect(ref.key).toBe('uri')
      else expect(Object.keys(find('Secret', ref.name).stringData)).toContain(ref.key)
    }
    for (const from of container.envFrom) find('ConfigMap', from.configMapRef.name)
  })
})

describe('the resources around it', () => {
  const podLabels = find('StatefulSet', 'baton').spec.template.metadata.labels
  const selects = (selector: Record<string, string>) =>
    Object.entries(selector).every(([k, v]) => podLabels[k] === v)

  test('the API Service, the headless Service and the PodDisruptionBudget select the baton pods', () => {
    expect(selects(find('Service', 'baton').spec.selector)).toBe(true)
    expect(selects(find('Service', 'baton-nodes').spec.selector)).toBe(true)
    const pdb = find('PodDisruptionBudget', 'baton')
    expect(selects(pdb.spec.selector.matchLabels)).toBe(true)
    expect(pdb.spec.maxUnavailable).toBe(1)
  })

  test('the ServiceMonitor scrapes /metrics on the headless Service, which lists not-ready pods too', () => {
    const monitor = find('ServiceMonitor', 'baton')
    const nodes = find('Service', 'baton-nodes')
    expect(
      Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => nodes.metadata.labels[k] === v),
    ).toBe(true)
    expect(
      Object.entries(monitor.spec.selector.matchLabels).every(
        ([k, v]) => find('Service', 'baton').metadata.labels[k] === v,
      ),
    ).toBe(false)
    // The alert rules select up{job="baton"}: the job label comes from the Service's name label.
    expect(nodes.metadata.labels[monitor.spec.jobLabel]).toBe('baton')
    expect(monitor.spec.endpoints).toEqual([expect.objectContaining({ port: 'http', path: '/metrics' })])
    expect(nodes.spec.publishNotReadyAddresses).toBe(true)
  })

  test('the ScaledObject scales the StatefulSet on the group’s lag, never beyond the topic’s partitions', () => {
    const scaled = find('ScaledObject', 'baton')
    const config = find('ConfigMap', 'baton').data
    expect(scaled.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'baton' })
    const topics = manifests.filter((m) => m.doc.kind === 'KafkaTopic').map((m) => m.doc as Any)
    for (const topic of config.BATON_TOPICS.split(',')) {
      const partitions = topics.find((t) => t.spec.topicName === topic)?.spec.partitions
      expect({ topic, partitions: typeof partitions }).toEqual({ topic, partitions: 'number' })
      expect(scaled.spec.maxReplicaCount).toBeLessThanOrEqual(partitions)
      expect(scaled.spec.triggers).toContainEqual(
        expect.objectContaining({
          type: 'kafka',
          metadata: expect.objectContaining({
            topic,
            consumerGroup: config.BATON_GROUP_ID,
            bootstrapServers: config.KAFKA_BROKERS,
            allowIdleConsumers: 'false',
          }),
        }),
      )
    }
    expect(scaled.spec.minReplicaCount).toBeGreaterThanOrEqual(2)
  })

  test('Kafka: three KRaft nodes, replication 3 and min.insync.replicas 2 for the cluster and for each topic, DLQ topics included', () => {
    const kafka = find('Kafka', 'baton-kafka')
    expect(kafka.spec.kafka.config).toMatchObject({
      'default.replication.factor': 3,
      'min.insync.replicas': 2,
    })
    const pool = find('KafkaNodePool', 'dual')
    expect(pool.metadata.labels['strimzi.io/cluster']).toBe('baton-kafka')
    expect(pool.spec.replicas).toBeGreaterThanOrEqual(3)
    expect(pool.spec.roles.sort()).toEqual(['broker', 'controller'])
    const config = find('ConfigMap', 'baton').data
    expect(config.KAFKA_BROKERS).toBe('baton-kafka-kafka-bootstrap:9092')
    expect(config.BATON_CREATE_TOPICS).toBe('false')
    const topics = manifests.filter((m) => m.doc.kind === 'KafkaTopic').map((m) => m.doc as Any)
    for (const topic of config.BATON_TOPICS.split(','))
      expect(topics.map((t) => t.spec.topicName)).toEqual(expect.arrayContaining([topic, `${topic}.dlq`]))
    for (const t of topics) {
      expect(t.metadata.labels['strimzi.io/cluster']).toBe('baton-kafka')
      expect({
        topic: t.spec.topicName,
        replicas: t.spec.replicas,
        isr: t.spec.config['min.insync.replicas'],
      }).toEqual({
        topic: t.spec.topicName,
        replicas: 3,
        isr: 2,
      })
    }
  })

  test('PostgreSQL keeps its WAL on a volume of its own, larger than max_wal_size', () => {
    // A COMMIT's WAL flush on the data volume queues behind the kernel's writeback of table pages: the
    // worst seconds of `baton bench latency` (README, Tail latency).
    const pg = find('Cluster', 'baton-pg')
    const bytes = (size: string) => {
      const units: Record<string, number> = { Gi: 2 ** 30, GB: 2 ** 30, Mi: 2 ** 20, MB: 2 ** 20 }
      const [, n, unit] = /^(\d+)(Gi|GB|Mi|MB)$/.exec(size) ?? []
      const scale = unit === undefined ? undefined : units[unit]
      if (!n || scale === undefined) throw new Error(`not a size this test reads: ${size}`)
      return Number(n) * scale
    }
    expect(pg.spec.walStorage?.size).toBeDefined()
    expect(bytes(pg.spec.walStorage.size)).toBeGreaterThan(bytes(pg.spec.postgresql.parameters.max_wal_size))
  })

  test('`bench latency --pg production` runs with the PostgreSQL settings this manifest sets', () => {
    // The bench's figures stand for this Cluster only while the two agree; checkpoint_timeout the bench
    // shortens on purpose, and max_connections does not shape latency.
    const {
      checkpoint_timeout: _timer,
      max_connections: _pool,
      ...shaping
    } = find('Cluster', 'baton-pg').spec.postgresql.parameters
    expect(productionPg).toEqual(shaping)
  })

  test('PostgreSQL by CloudNativePG with a synchronous replica; Redis with its append-only file on a volume', () => {
    const pg = find('Cluster', 'baton-pg')
    expect(pg.spec.instances).toBeGreaterThanOrEqual(2)
    expect(pg.spec.minSyncReplicas).toBeGreaterThanOrEqual(1)
    const conf = find('ConfigMap', 'baton-redis').data['redis.conf'] as string
    expect(conf).toContain('appendonly yes')
    expect(conf).toContain('dir /data')
    const redis = find('StatefulSet', 'baton-redis')
    expect(redis.spec.volumeClaimTemplates.map((c: Any) => c.metadata.name)).toContain('data')
    expect(redis.spec.template.spec.containers[0].volumeMounts).toContainEqual({
      name: 'data',
      mountPath: '/data',
    })
    expect(redis.spec.template.spec.securityContext.runAsNonRoot).toBe(true)
    expect(find('StatefulSet', 'baton').spec.template.spec.containers[0].env).toContainEqual({
      name: 'REDIS_URL',
      value: 'redis://:$(REDIS_PASSWORD)@baton-redis:6379/0',
    })
  })
})

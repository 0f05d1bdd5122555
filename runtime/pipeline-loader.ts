import { isAbsolute, resolve } from 'node:path'
import { BatonError, errorMessage } from '../actors/core/errors.ts'
import { eventStore } from '../actors/event-store.ts'
import type { Pipeline } from '../actors/pipeline.ts'
import type { SinkKind } from '../actors/ports.ts'

/**
 * Loads the pipeline named by BATON_PIPELINE (a module path, relative to the working directory), or the
 * built-in event store when unset (with `onPoison`: BATON_ON_POISON), and checks that it runs on `sink`. The module exports the result of
 * `definePipeline` as `default` or as `pipeline`.
 */
export async function loadPipeline(
  path: string | undefined,
  sink: SinkKind,
  onPoison: Pipeline['onPoison'] = 'dead-letter',
): Promise<Pipeline> {
  const pipeline = path === undefined ? ({ ...eventStore, onPoison } as Pipeline) : await importPipeline(path)
  if (!pipeline.sinks.includes(sink)) {
    throw new BatonError(
      'PIPELINE_INVALID',
      `Pipeline '${pipeline.name}' supports ${pipeline.sinks.join(' and ')} only, but this node's sink is ${sink}. ` +
        (sink === 'sqlite'
          ? 'Run it in cluster mode (set KAFKA_BROKERS, DATABASE_URL and REDIS_URL).'
          : 'Run it in embedded mode (unset KAFKA_BROKERS).'),
    )
  }
  return pipeline
}

async function importPipeline(path: string): Promise<Pipeline> {
  const file = isAbsolute(path) ? path : resolve(process.cwd(), path)
  let mod: Record<string, unknown>
  try {
    mod = await import(file)
  } catch (err) {
    throw new BatonError(
      'PIPELINE_INVALID',
      `BATON_PIPELINE: cannot load '${path}' (${errorMessage(err)}). Check the path; it is resolved from ${process.cwd()}.`,
      { cause: err },
    )
  }
  const candidate = (mod.default ?? mod.pipeline) as Partial<Pipeline> | undefined
  if (!candidate || typeof candidate !== 'object') {
    throw new BatonError(
      'PIPELINE_INVALID',
      `BATON_PIPELINE: '${path}' exports no pipeline. Export \`definePipeline({...})\` as default or as \`pipeline\`.`,
    )
  }
  if (typeof candidate.handle !== 'function') {
    throw new BatonError(
      'PIPELINE_INVALID',
      `BATON_PIPELINE: the pipeline in '${path}' has no \`handle(batch, tx)\` function. Declare it with definePipeline.`,
    )
  }
  if (typeof candidate.decode !== 'function' || !Array.isArray(candidate.sinks)) {
    throw new BatonError(
      'PIPELINE_INVALID',
      `BATON_PIPELINE: the pipeline in '${path}' was not made by definePipeline. Wrap it: export default definePipeline({...}).`,
    )
  }
  return candidate as Pipeline
}

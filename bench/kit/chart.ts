import { parse, View } from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'

/** A vega-lite chart spec (https://vega.github.io/vega-lite/docs/spec.html). */
export type ChartSpec = TopLevelSpec

/**
 * Draws a vega-lite spec as an SVG document, headless: vega's View with no renderer, so no canvas or
 * browser is needed. The benchmarks write these beside their JSON under bench/results/.
 */
export async function renderSvg(spec: ChartSpec): Promise<string> {
  const view = new View(parse(compile(spec).spec), { renderer: 'none' })
  try {
    return await view.toSVG()
  } finally {
    view.finalize()
  }
}

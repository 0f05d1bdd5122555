import { expect, test } from 'bun:test'
import { renderSvg } from './chart.ts'

test('renders a vega-lite spec to a standalone SVG document, headless', async () => {
  const svg = await renderSvg({
    data: {
      values: [
        { x: 1, y: 10, q: 'p99' },
        { x: 2, y: 30, q: 'p99' },
      ],
    },
    mark: 'line',
    encoding: {
      x: { field: 'x', type: 'quantitative', title: 'events per second' },
      y: { field: 'y', type: 'quantitative' },
      color: { field: 'q', type: 'nominal' },
    },
  })
  expect(svg.startsWith('<svg')).toBe(true)
  expect(svg.trimEnd().endsWith('</svg>')).toBe(true)
  expect(svg).toContain('xmlns="http://www.w3.org/2000/svg"')
  expect(svg).toContain('events per second')
  expect(unclosedTags(svg)).toEqual([])
})

/** Tags opened and not closed, or closed out of order, in `xml` (empty for well-nested markup). */
function unclosedTags(xml: string): string[] {
  const open: string[] = []
  for (const [, close, name, selfClosing] of xml.matchAll(/<(\/?)([a-zA-Z][\w:-]*)[^>]*?(\/?)>/g)) {
    if (selfClosing) continue
    if (!close) open.push(name as string)
    else if (open.pop() !== name) return [`</${name}> out of order`]
  }
  return open
}

import { BatonError, errorMessage } from '../../actors/core/errors.ts'

const utf8 = new TextDecoder('utf-8', { fatal: true })

/**
 * Reads a request body as UTF-8 text, refusing it (PAYLOAD_TOO_LARGE) as soon as more than `maxBytes`
 * arrived. A declared Content-Length over the limit is refused before reading; the running count guards
 * against chunked bodies and lying headers, so an oversize body is never buffered whole.
 */
export async function readText(request: Request, maxBytes: number): Promise<string> {
  const tooLarge = () =>
    new BatonError(
      'PAYLOAD_TOO_LARGE',
      `the request body is larger than ${maxBytes} bytes; send fewer events per request`,
    )
  const declared = Number(request.headers.get('content-length') ?? 0)
  if (declared > maxBytes) throw tooLarge()
  if (!request.body) return ''
  const reader = request.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel()
      throw tooLarge()
    }
    chunks.push(value)
  }
  try {
    return utf8.decode(Buffer.concat(chunks, size))
  } catch (err) {
    throw new BatonError('BAD_REQUEST', 'the request body is not valid UTF-8 text', { cause: err })
  }
}

/**
 * Reads a small JSON request body; `example` shows the expected shape in the error for an empty or
 * malformed body. What the parsed value must look like is the caller's (schema's) business.
 *
 * @example await readJson(c.req.raw, 1 << 20, '{"offset": 1000}')
 */
export async function readJson(request: Request, maxBytes: number, example: string): Promise<unknown> {
  const text = await readText(request, maxBytes)
  if (text.trim() === '')
    throw new BatonError('BAD_REQUEST', `the request body is empty; send JSON like ${example}`)
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new BatonError(
      'BAD_REQUEST',
      `the request body is not valid JSON (${errorMessage(err)}); send JSON like ${example}`,
    )
  }
}

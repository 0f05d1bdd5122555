/**
 * The parts of a CRD's structural OpenAPI v3 schema that the API server checks on create, as stored in
 * `crd-schemas/` (the operators' CRDs with descriptions and `status` removed).
 */
export interface StructuralSchema {
  readonly type?: string
  readonly properties?: Readonly<Record<string, StructuralSchema>>
  readonly additionalProperties?: StructuralSchema | boolean
  readonly items?: StructuralSchema
  readonly required?: readonly string[]
  readonly enum?: readonly unknown[]
  readonly pattern?: string
  readonly minimum?: number
  readonly maximum?: number
  readonly minLength?: number
  readonly maxLength?: number
  readonly minItems?: number
  readonly oneOf?: readonly StructuralSchema[]
  readonly anyOf?: readonly StructuralSchema[]
  readonly nullable?: boolean
  readonly 'x-kubernetes-int-or-string'?: boolean
  readonly 'x-kubernetes-preserve-unknown-fields'?: boolean
}

/**
 * Checks `value` against a CRD's structural schema and returns what is wrong, one line per problem with
 * its path (`/spec/kafka/listeners/0/tls: required`). Unknown fields are errors where the API server
 * would prune them (an object schema that does not preserve unknown fields). `metadata` at the root is
 * left to the caller, as the API server validates it as ObjectMeta. Not checked: CEL rules
 * (`x-kubernetes-validations`) and `format`.
 *
 * `oneOf`/`anyOf` branches only add value checks in a structural schema (which fields must be there);
 * they are checked without the unknown-field rule, since a branch lists only some of the fields.
 */
export function checkStructural(value: unknown, schema: StructuralSchema, path = ''): string[] {
  const errors: string[] = []
  walk(value, schema, path, errors, true)
  return errors
}

function walk(
  value: unknown,
  schema: StructuralSchema,
  path: string,
  errors: string[],
  strict: boolean,
): void {
  const at = path || '/'
  if (value === null) {
    if (!schema.nullable) errors.push(`${at}: null is not allowed`)
    return
  }
  if (schema['x-kubernetes-int-or-string']) {
    if (!Number.isInteger(value) && typeof value !== 'string') errors.push(`${at}: an integer or a string`)
  } else if (schema.type !== undefined && !hasType(value, schema.type)) {
    errors.push(`${at}: ${JSON.stringify(value)} is not of type ${schema.type}`)
    return
  }
  if (schema.enum && !schema.enum.includes(value))
    errors.push(`${at}: not one of ${JSON.stringify(schema.enum)}`)
  if (typeof value === 'string') {
    if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value))
      errors.push(`${at}: does not match ${schema.pattern}`)
    if (schema.minLength !== undefined && value.length < schema.minLength) errors.push(`${at}: too short`)
    if (schema.maxLength !== undefined && value.length > schema.maxLength) errors.push(`${at}: too long`)
  }
  if (typeof value === 'number') {
    if (schema.minimum !== undefined && value < schema.minimum) errors.push(`${at}: below ${schema.minimum}`)
    if (schema.maximum !== undefined && value > schema.maximum) errors.push(`${at}: above ${schema.maximum}`)
  }
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) errors.push(`${at}: too few items`)
    if (schema.items)
      for (const [i, item] of value.entries()) walk(item, schema.items, `${path}/${i}`, errors, strict)
  } else if (typeof value === 'object') {
    walkObject(value as Record<string, unknown>, schema, path, errors, strict)
  }
  for (const [keyword, branches] of [
    ['oneOf', schema.oneOf],
    ['anyOf', schema.anyOf],
  ] as const) {
    if (!branches) continue
    const matching = branches.filter((b) => {
      const found: string[] = []
      walk(value, b, path, found, false)
      return found.length === 0
    }).length
    if (keyword === 'oneOf' ? matching !== 1 : matching === 0)
      errors.push(`${at}: matches ${matching} of the ${branches.length} ${keyword} alternatives`)
  }
}

function walkObject(
  value: Record<string, unknown>,
  schema: StructuralSchema,
  path: string,
  errors: string[],
  strict: boolean,
): void {
  for (const key of schema.required ?? []) {
    if (!(key in value)) errors.push(`${path}/${key}: required`)
  }
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true
  for (const [key, child] of Object.entries(value)) {
    const childPath = `${path}/${key}`
    if (path === '' && key === 'metadata') continue
    const known = schema.properties?.[key]
    if (known) walk(child, known, childPath, errors, strict)
    else if (typeof schema.additionalProperties === 'object')
      walk(child, schema.additionalProperties, childPath, errors, strict)
    else if (strict && !preserve && schema.additionalProperties !== true)
      errors.push(`${childPath}: unknown field`)
  }
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'object':
      return typeof value === 'object' && value !== null && !Array.isArray(value)
    case 'array':
      return Array.isArray(value)
    case 'integer':
      return Number.isInteger(value)
    case 'number':
      return typeof value === 'number'
    default:
      return typeof value === type
  }
}

/**
 * The configuration of the `connect` peer: a Kafka Connect standalone worker running Debezium's JDBC sink
 * connector, tuned for throughput as the connector's documentation says (a batch size, the consumer's
 * max.poll.records at least that, a task per partition). No I/O: the runner writes these files.
 */

/** What the worker and its connector need to know of one run. */
export interface ConnectPeerSettings {
  readonly brokers: readonly string[]
  readonly topic: string
  /** The consumer group of the connector's tasks (the benchmark's, so that it deletes it afterwards). */
  readonly group: string
  /** postgres://user:password@host:port/database, as baton takes it. */
  readonly databaseUrl: string
  /** The table, shaped like baton_events, that the connector writes into. */
  readonly table: string
  /** The folder Connect scans for plugins: one sub-folder per plugin (its jars). */
  readonly pluginPath: string
  /** Where the standalone worker keeps source offsets (a sink has none, but the worker wants the file). */
  readonly offsetsFile: string
}

/** The throughput settings: one task per partition of the bench topic, and the batch size. */
export const connectTuning = { tasks: 8, batchSize: 2000 } as const

/** The columns of the peer's table that identify an event, as the event store's primary key. */
const primaryKey = ['topic', 'partition', 'offset'] as const

/** pgjdbc's URL, user and password for a postgres:// URL (its query, e.g. sslmode, kept). */
export function jdbcConnection(databaseUrl: string): { url: string; user: string; password: string } {
  const url = new URL(databaseUrl)
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')
    throw new Error(`expected a postgres:// URL, got ${url.protocol}//…`)
  const query = new URLSearchParams(url.search)
  // The event's JSON goes in as text: untyped, PostgreSQL casts it to the jsonb column itself.
  query.set('stringtype', 'unspecified')
  return {
    url: `jdbc:postgresql://${url.host}${url.pathname}?${query}`,
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
  }
}

/** The standalone worker's properties (connect-standalone.properties). */
export function workerProperties(s: ConnectPeerSettings): Record<string, string> {
  return {
    'bootstrap.servers': s.brokers.join(','),
    // The converters hand over the key and the value as the text they are; the transforms give them shape.
    'key.converter': 'org.apache.kafka.connect.storage.StringConverter',
    'value.converter': 'org.apache.kafka.connect.storage.StringConverter',
    'offset.storage.file.filename': s.offsetsFile,
    'plugin.path': s.pluginPath,
    // Port 0: several workers (and whatever else runs here) never fight over Connect's default 8083.
    listeners: 'http://127.0.0.1:0',
    // The connector names its consumer group and max.poll.records (consumer.override.*).
    'connector.client.config.override.policy': 'All',
  }
}

/**
 * The connector's properties: Debezium's JDBC sink in upsert mode on (topic, partition, offset), with
 * single message transforms that turn each record into a row of baton_events' shape: the key and the
 * value as text columns, the record's topic, partition, offset and timestamp as the rest.
 */
export function sinkProperties(s: ConnectPeerSettings): Record<string, string> {
  const jdbc = jdbcConnection(s.databaseUrl)
  const transforms = {
    // The key becomes a field, is carried over in a header, and lands in the value (Kafka's own SMTs
    // have no key-to-value step; Debezium's HeaderToValue does that part).
    hoistKey: { type: 'org.apache.kafka.connect.transforms.HoistField$Key', field: 'key' },
    keyHeader: {
      type: 'org.apache.kafka.connect.transforms.HeaderFrom$Key',
      fields: 'key',
      headers: 'key',
      operation: 'copy',
    },
    hoistValue: { type: 'org.apache.kafka.connect.transforms.HoistField$Value', field: 'value' },
    keyField: {
      type: 'io.debezium.transforms.HeaderToValue',
      headers: 'key',
      fields: 'key',
      operation: 'move',
    },
    coordinates: {
      type: 'org.apache.kafka.connect.transforms.InsertField$Value',
      'topic.field': 'topic',
      'partition.field': 'partition',
      'offset.field': 'offset',
      'timestamp.field': 'event_time',
    },
  }
  const props: Record<string, string> = {
    name: s.group,
    'connector.class': 'io.debezium.connector.jdbc.JdbcSinkConnector',
    'tasks.max': String(connectTuning.tasks),
    topics: s.topic,
    'consumer.override.group.id': s.group,
    // The sink writes at most what one poll returned: a poll must hold a whole batch.
    'consumer.override.max.poll.records': String(connectTuning.batchSize),
    'connection.url': jdbc.url,
    'connection.username': jdbc.user,
    'connection.password': jdbc.password,
    'insert.mode': 'upsert',
    'primary.key.mode': 'record_value',
    'primary.key.fields': primaryKey.join(','),
    'batch.size': String(connectTuning.batchSize),
    // The table exists, shaped like baton_events; "offset" is a keyword and must be quoted.
    'schema.evolution': 'none',
    'quote.identifiers': 'true',
    'collection.name.format': s.table,
    transforms: Object.keys(transforms).join(','),
  }
  for (const [name, settings] of Object.entries(transforms))
    for (const [key, value] of Object.entries(settings)) props[`transforms.${name}.${key}`] = value
  return props
}

/**
 * A .properties file of `props`, as java.util.Properties reads it from a stream (ISO-8859-1): backslashes,
 * line breaks, leading blanks and characters past ASCII escaped; `=`, `:` and blanks in keys too.
 */
export function propertiesText(props: Readonly<Record<string, string>>): string {
  const escaped = (text: string, isKey: boolean) =>
    text
      .replace(/[\\\n\r\t\f]|[^\x20-\x7e]/g, (c) => {
        const named: Record<string, string> = {
          '\\': '\\\\',
          '\n': '\\n',
          '\r': '\\r',
          '\t': '\\t',
          '\f': '\\f',
        }
        return named[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`
      })
      .replace(isKey ? /[=: #!]/g : /^ /, (c) => `\\${c}`)
  return Object.entries(props)
    .map(([key, value]) => `${escaped(key, true)}=${escaped(value, false)}\n`)
    .join('')
}

import { describe, expect, test } from 'bun:test'
import {
  type ConnectPeerSettings,
  connectTuning,
  jdbcConnection,
  propertiesText,
  sinkProperties,
  workerProperties,
} from './connect-config.ts'

const settings: ConnectPeerSettings = {
  brokers: ['127.0.0.1:9092', '127.0.0.1:9093'],
  topic: 'bench-e2e-x',
  group: 'bench-e2e-x-connect-1',
  databaseUrl: 'postgres://baton:p%40ss%3Aword@127.0.0.1:5432/baton_bench_1?sslmode=disable',
  table: 'peer_connect',
  pluginPath: '/tmp/w/plugins',
  offsetsFile: '/tmp/w/offsets',
}

describe('jdbcConnection', () => {
  test('turns a postgres:// URL into pgjdbc URL, user and password, keeping its query', () => {
    const jdbc = jdbcConnection(settings.databaseUrl)
    expect(jdbc.user).toBe('baton')
    expect(jdbc.password).toBe('p@ss:word')
    const url = new URL(jdbc.url.replace(/^jdbc:/, ''))
    expect(`${url.protocol}//${url.host}${url.pathname}`).toBe('postgresql://127.0.0.1:5432/baton_bench_1')
    expect(Object.fromEntries(url.searchParams)).toEqual({
      sslmode: 'disable',
      // The JSON value is sent as untyped text, which PostgreSQL casts to the jsonb column.
      stringtype: 'unspecified',
    })
  })

  test('takes a URL without a password', () => {
    expect(jdbcConnection('postgresql://postgres@[::1]:5432/baton')).toEqual({
      url: 'jdbc:postgresql://[::1]:5432/baton?stringtype=unspecified',
      user: 'postgres',
      password: '',
    })
  })

  test('refuses a URL of another database', () => {
    expect(() => jdbcConnection('mysql://root@127.0.0.1/baton')).toThrow('expected a postgres:// URL')
  })
})

describe('sinkProperties', () => {
  const props = sinkProperties(settings)

  test("runs Debezium's JDBC sink in upsert mode on the event's coordinates, into the peer's table", () => {
    expect(props).toMatchObject({
      'connector.class': 'io.debezium.connector.jdbc.JdbcSinkConnector',
      topics: 'bench-e2e-x',
      'insert.mode': 'upsert',
      'primary.key.mode': 'record_value',
      'primary.key.fields': 'topic,partition,offset',
      'collection.name.format': 'peer_connect',
      'schema.evolution': 'none',
      'quote.identifiers': 'true',
      'connection.username': 'baton',
      'connection.password': 'p@ss:word',
    })
  })

  test('reads in the benchmark group, a task per partition, a poll holding a whole batch', () => {
    expect(connectTuning).toEqual({ tasks: 8, batchSize: 2000 })
    expect(props).toMatchObject({
      'consumer.override.group.id': 'bench-e2e-x-connect-1',
      'tasks.max': '8',
      'batch.size': '2000',
      'consumer.override.max.poll.records': '2000',
    })
  })

  test("shapes each record as a row of baton_events: key, value, then the record's coordinates and time", () => {
    expect(props.transforms).toBe('hoistKey,keyHeader,hoistValue,keyField,coordinates')
    expect(props).toMatchObject({
      'transforms.hoistKey.type': 'org.apache.kafka.connect.transforms.HoistField$Key',
      'transforms.hoistKey.field': 'key',
      'transforms.keyHeader.type': 'org.apache.kafka.connect.transforms.HeaderFrom$Key',
      'transforms.hoistValue.field': 'value',
      'transforms.keyField.type': 'io.debezium.transforms.HeaderToValue',
      'transforms.keyField.operation': 'move',
      'transforms.coordinates.type': 'org.apache.kafka.connect.transforms.InsertField$Value',
      'transforms.coordinates.topic.field': 'topic',
      'transforms.coordinates.partition.field': 'partition',
      'transforms.coordinates.offset.field': 'offset',
      'transforms.coordinates.timestamp.field': 'event_time',
    })
  })
})

test('workerProperties: string converters, the plugin folder, an ephemeral loopback REST port', () => {
  expect(workerProperties(settings)).toEqual({
    'bootstrap.servers': '127.0.0.1:9092,127.0.0.1:9093',
    'key.converter': 'org.apache.kafka.connect.storage.StringConverter',
    'value.converter': 'org.apache.kafka.connect.storage.StringConverter',
    'offset.storage.file.filename': '/tmp/w/offsets',
    'plugin.path': '/tmp/w/plugins',
    listeners: 'http://127.0.0.1:0',
    'connector.client.config.override.policy': 'All',
  })
})

describe('propertiesText', () => {
  test('writes one key=value line per property', () => {
    expect(propertiesText({ 'a.b': 'c', transforms: 'x,y' })).toBe('a.b=c\ntransforms=x,y\n')
  })

  test('escapes what java.util.Properties would read otherwise', () => {
    expect(propertiesText({ 'k=1:2 #': ' lead\\back\nline\tté€' })).toBe(
      'k\\=1\\:2\\ \\#=\\ lead\\\\back\\nline\\tt\\u00e9\\u20ac\n',
    )
  })

  test('leaves = and : in values as they are (only the first separator counts)', () => {
    expect(propertiesText({ url: 'jdbc:postgresql://h:1/d?a=b' })).toBe('url=jdbc:postgresql://h:1/d?a=b\n')
  })
})

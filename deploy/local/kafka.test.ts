import { describe, expect, test } from 'bun:test'
import { kafkaClusterId, serverProperties } from './kafka.ts'

describe('kafkaClusterId', () => {
  test('is 16 bytes of unpadded base64url that no tool reads as an option', () => {
    for (let i = 0; i < 200; i++) {
      const id = kafkaClusterId()
      expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/)
      expect(Buffer.from(id, 'base64url').length).toBe(16)
    }
  })
})

describe('serverProperties', () => {
  test('one combined node on loopback whose internal topics need one replica', () => {
    const props = serverProperties({ brokerPort: 1001, controllerPort: 1002, logDir: '/tmp/k' })
    expect(props).toContain('process.roles=broker,controller')
    expect(props).toContain('listeners=PLAINTEXT://127.0.0.1:1001,CONTROLLER://127.0.0.1:1002')
    expect(props).toContain('controller.quorum.bootstrap.servers=127.0.0.1:1002')
    for (const key of [
      'offsets.topic.replication.factor',
      'transaction.state.log.replication.factor',
      'transaction.state.log.min.isr',
      'share.coordinator.state.topic.replication.factor',
      'share.coordinator.state.topic.min.isr',
    ]) {
      expect(props).toContain(`${key}=1\n`)
    }
  })
})

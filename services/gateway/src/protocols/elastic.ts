// elastic ingest (stub: replaced by its implementation).
import type { FastifyInstance } from 'fastify'
import type { ProtocolContext } from '../protocol.js'

export function registerElastic(_api: FastifyInstance, _ctx: ProtocolContext): void {}

export { type ApiOptions, apiDefaults, createApi } from './app.ts'
export { type Server, serve } from './serve.ts'

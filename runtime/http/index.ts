export { type ApiOptions, apiDefaults, createApi } from './app.ts'
export { type Listener, listen, type Server } from './serve.ts'

/** Every workflow the worker runs: its `workflowsPath` points at this file. */
export { enrollmentWorkflow } from './enrollment';
export { sweepWorkflow } from './sweep';
export { testSendWorkflow } from './test-send';

/** Every workflow the worker runs: its `workflowsPath` points at this file (STYLE §1). */
export { enrollmentWorkflow } from './enrollment';
export { sweepWorkflow } from './sweep';
export { testSendWorkflow } from './test-send';

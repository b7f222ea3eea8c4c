package controllers

// Applier and ApplyOwned expose the operator's server-side apply to the
// tests of controllers_test, which own the apiserver.
type Applier = applier

var ApplyOwned = (*applier).apply

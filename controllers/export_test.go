package controllers

// Applier and ApplyOwned expose the operator's server-side apply to the
// tests of controllers_test, which own the apiserver.
type Applier = applier

var ApplyOwned = (*applier).apply

// Forget drops what the applier remembers of one object.
func Forget(a *applier, obj ownedApply) { a.forget([]ownedApply{obj}) }

// Package deploy pushes a DPG plan (dpg/planner's JSON) to running agents
// through their control APIs (agent/control) and takes it down again.
//
// An Inventory maps the plan's host names to control endpoints. Specs
// turns the plan's nodes into watch specs (dpg/watch): operator ids
// NAME.NODE, each node's level and children, its parent's and the root's
// endpoints, the operator parameters of the plan, and a data-plane key
// shared by the deployment (by default an HMAC of its name under the root
// host's control token, so a redeploy keeps it).
//
// Deploy checks every endpoint before it changes anything, then adds or
// changes the nodes level by level from the root down, so a parent runs
// before its children send to it, and removes the deployment's operators
// the new plan no longer has. It is all-or-nothing by default: if a node
// fails, the nodes the run created are removed again and the error names
// each failed node with its host and endpoint; with Partial they stay and
// the report says exactly which nodes are up. Nodes changed in place keep
// their new spec (their old one is not known to the deployer). Undeploy
// removes a deployment's operators from every endpoint, leaves first.
package deploy

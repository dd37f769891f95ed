// Package datasets is the home of the data the project generates and reads:
// webstore (an Amazon-style web-store data centre log generator with
// ground truth), loghub, interp (SMD/ASD interpretation labels) and nab
// (NAB data and labels) loaders, and replay (pacing logs into agents).
package datasets

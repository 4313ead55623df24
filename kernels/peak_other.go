//go:build !(amd64 || arm64) || purego

package kernels

import "errors"

func peakLoopFor() (peakLoop, error) {
	return peakLoop{}, errors.New("kernels.PeakGFLOPS: no FMA loop for this architecture or purego build")
}

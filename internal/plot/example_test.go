package plot_test

import (
	"fmt"
	"log"
	"math"
	"strings"

	"github.com/orthotune/orthotune/internal/plot"
)

// Training and evaluation loss on one chart. The NaN (a diverged step, say)
// breaks the training line into two pieces: two M commands in its path.
// The output shows the document's root and the two curves.
func Example() {
	train := plot.Series{Name: "train", Points: []plot.Point{{0, 4.2}, {100, 2.9}, {200, math.NaN()}, {300, 2.1}, {400, 1.9}}}
	eval := plot.Series{Name: "eval", Points: []plot.Point{{0, 4.3}, {200, 2.6}, {400, 2.2}}, Dashed: true}
	chart := plot.Chart{Title: "SmolLM-135M, OFT b=32", XLabel: "step", YLabel: "loss", Width: 480, Height: 300}

	var svg strings.Builder
	if err := chart.WriteSVG(&svg, train, eval); err != nil {
		log.Fatal(err)
	}
	for _, line := range strings.Split(svg.String(), "\n") {
		if strings.HasPrefix(line, "<svg") || strings.HasPrefix(line, `<path class="series"`) {
			fmt.Println(line)
		}
	}
	// Output:
	// <svg xmlns="http://www.w3.org/2000/svg" width="480" height="300" viewBox="0 0 480 300" font-family="Helvetica, Arial, sans-serif" font-size="12">
	// <path class="series" stroke="#0072B2" d="M52 84.8L153 147.85M355 186.65L456 196.35"/>
	// <path class="series" stroke="#D55E00" stroke-dasharray="7 5" d="M52 79.95L254 162.4L456 181.8"/>
}

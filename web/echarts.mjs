// The part of ECharts the site draws with (app/src/echarts.rs): line, bar and
// candlestick series on a grid, with tooltip, legend and zoom, on a canvas.
// Bundled by build.mjs into one script that sets the global `echarts`, which
// charming's renderer calls.
import { use } from 'echarts/core';
import { BarChart, CandlestickChart, LineChart } from 'echarts/charts';
import { DataZoomComponent, GridComponent, LegendComponent, TooltipComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';

use([LineChart, BarChart, CandlestickChart, GridComponent, TooltipComponent, LegendComponent, DataZoomComponent, CanvasRenderer]);

export * from 'echarts/core';

set terminal pngcairo size 800,500
set output 'strong_scaling.png'
set datafile separator ','
set key top left
set grid
set title 'strong scaling: B1 H8/8 M2048 N2048 D128'
set xlabel 'threads'
set ylabel 'speedup'
set xtics 1
set yrange [0:*]
plot 'strong_scaling.csv' every ::1 using 1:4 with linespoints title 'speedup', x title 'ideal' with lines dashtype 2

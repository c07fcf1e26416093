using System.Text;
using PyodideEmbedded.Cli;

Console.OutputEncoding = new UTF8Encoding(false);
return await new CliCommands().InvokeAsync(args);
